"""Sampling from a finished run with nothing but its checkpoint: `wgangp.sample(ckpt_path, n)`."""

from __future__ import annotations

import contextlib
import pickle
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import torch
from hydra.utils import get_class, instantiate
from torch import nn

from wgangp.errors import UserInputError
from wgangp.evaluation.inputs import draw_inputs, generate
from wgangp.latents import LatentCodes
from wgangp.nets.conditional import needs_labels, takes_labels
from wgangp.rng import EVAL, step_generator


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Evaluate `modules` in eval mode inside the block and give each back its own mode after it
    (the callbacks score a generator or critic mid-training)."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.train(mode)


def load_checkpoint(ckpt_path: str | Path) -> dict:
    """torch.load a wgangp checkpoint on the CPU with weights_only=True: tensors and plain values only,
    so a crafted file cannot run code while it is unpickled.

    Raises UserInputError naming the file, what is wrong with it (missing, unreadable, truncated or
    not a torch checkpoint, holding objects other than tensors and plain values, not written by
    wgangp) and what to pass instead.
    """
    path = Path(ckpt_path)
    fix = "pass a checkpoint a wgangp run wrote (<run dir>/checkpoints/last.ckpt or iter_NNNNNNN.ckpt)"
    if not path.is_file():
        raise UserInputError(f"checkpoint {path} does not exist or is not a file; {fix}.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - whatever torch.load makes of a file that is not a checkpoint
        if isinstance(e, pickle.UnpicklingError) and "weights_only" in str(e):
            raise UserInputError(
                f"checkpoint {path} holds objects other than tensors and plain values ({_unsafe_global(e)}), "
                "which could run code while being unpickled, so it was not loaded (weights_only=True). Checkpoints "
                f"written by wgangp hold tensors and plain values only; {fix}, and load files from others only if "
                "you trust them."
            ) from e
        if isinstance(e, PermissionError):
            raise UserInputError(
                f"checkpoint {path} cannot be read ({e.strerror}); fix its permissions or {fix}."
            ) from e
        size = path.stat().st_size
        what = (
            "it is empty (0 bytes)"
            if size == 0
            else f"it is truncated or not a checkpoint at all ({size} bytes that are not the complete zip archive "
            "torch.save writes)"
            if not zipfile.is_zipfile(path)
            else f"its contents are damaged ({type(e).__name__}: {_first_line(e)})"
        )
        raise UserInputError(
            f"checkpoint {path} is not a readable torch checkpoint: {what}; {fix}, e.g. an earlier "
            "iter_NNNNNNN.ckpt of the same run, or copy the file again if a copy or download stopped early."
        ) from e
    info = ckpt.get("wgangp") if isinstance(ckpt, dict) else None
    lacking = [
        f"wgangp.{k}"
        for k in ("generator_iter", "data_shape", "run_config")
        if not isinstance(info, dict) or k not in info
    ] + ([] if isinstance(ckpt, dict) and "state_dict" in ckpt else ["state_dict"])
    if lacking:
        raise UserInputError(
            f"checkpoint {path} is a torch file but not a wgangp training checkpoint (it lacks "
            f"{', '.join(lacking)}); {fix}."
        )
    return ckpt


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else "no message"


def _unsafe_global(e: pickle.UnpicklingError) -> str:
    """The global the weights_only unpickler refused, as torch's message names it (e.g. `posix.system`)."""
    match = re.search(r"GLOBAL ([\w.]+)", str(e)) or re.search(r"Unsupported global: ([\w.]+)", str(e))
    return f"e.g. {match.group(1)}" if match else _first_line(e)


# Where the generator's weight average (objective.generator_ema, wgangp.ema) sits in the objective's state_dict.
EMA_PREFIX = "ema_generator.module."


def has_ema(ckpt: dict) -> bool:
    """Whether a loaded checkpoint holds a weight average of its generator."""
    return any(k.startswith(EMA_PREFIX) for k in ckpt["state_dict"])


def use_ema(ckpt: dict, ema: bool | None, ckpt_path: str | Path) -> bool:
    """Resolve `ema`: None is the average when the checkpoint has one (a run that kept an average did so to
    sample from it), else the raw generator; True on a checkpoint without one is a UserInputError."""
    if ema is None:
        return has_ema(ckpt)
    if ema and not has_ema(ckpt):
        raise UserInputError(
            f"ema=true, but checkpoint {ckpt_path} holds no weight average of its generator (its run had "
            "objective.generator_ema=null). Pass ema=false (or leave ema unset) to use its generator, or train "
            "with objective.generator_ema=0.999 to keep one."
        )
    return bool(ema)


def load_generator(ckpt_path: str | Path, ema: bool | None = None) -> nn.Module:
    """Rebuild the generator from the config stored in the checkpoint and load its weights (eval mode):
    the weight average's where `ema` resolves to True (see use_ema), else the raw generator's."""
    ckpt = load_checkpoint(ckpt_path)
    info = ckpt["wgangp"]
    config = info["run_config"]["model"]["generator"]
    # a class-conditional generator is built with the data's num_classes, which wgangp.build stored
    classes = {"num_classes": info["run_config"]["num_classes"]} if needs_labels(get_class(config["_target_"])) else {}
    generator = instantiate(config, data_shape=tuple(info["data_shape"]), **classes)
    prefix = EMA_PREFIX if use_ema(ckpt, ema, ckpt_path) else "generator."
    state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    generator.load_state_dict(state)
    return generator.eval()


def load_vocabulary(ckpt_path: str | Path) -> list[str] | None:
    """The characters by id of a text run's checkpoint (stored by wgangp.build.build), else None."""
    return (load_checkpoint(ckpt_path)["wgangp"].get("run_config") or {}).get("vocabulary")


def load_latent_codes(ckpt_path: str | Path, latent_dim: int) -> LatentCodes | None:
    """The InfoGAN code layout of a checkpoint's run (its objective config), None for runs without codes."""
    return LatentCodes.from_config(load_checkpoint(ckpt_path)["wgangp"]["run_config"].get("objective"), latent_dim)


def _check_labels(generator: nn.Module, labels: torch.Tensor, num_samples: int) -> torch.Tensor:
    if not takes_labels(generator):
        raise UserInputError(
            f"labels were given but this checkpoint's generator ({type(generator).__name__}) is not class-conditional; "
            "sample it without labels (or train a conditional model: model=dcgan_cond, resnet_cond, resnet_acgan)."
        )
    labels = torch.as_tensor(labels, dtype=torch.int64).flatten()
    if len(labels) != num_samples or labels.min() < 0 or labels.max() >= generator.num_classes:
        raise UserInputError(
            f"labels must hold one class in 0..{generator.num_classes - 1} per sample ({num_samples}); got "
            f"{len(labels)} labels in {int(labels.min())}..{int(labels.max())}."
        )
    return labels


@torch.no_grad()
def sample(
    ckpt_path: str | Path,
    num_samples: int,
    seed: int = 0,
    labels: torch.Tensor | None = None,
    batch_size: int = 1000,
    ema: bool | None = None,
) -> torch.Tensor:
    """`num_samples` samples in data space from a checkpoint: points (N, D) for toy data, images in
    [-1, 1] as (N, C, H, W) for image data, per-position character distributions (N, vocab, seq_len)
    for text (decode with load_vocabulary). Deterministic in `seed`.

    A class-conditional generator draws sample i of class labels[i] (a LongTensor (num_samples,)), or of
    uniform classes when labels is None; z is the same either way. An InfoGAN generator's z carries codes
    drawn from their prior (wgangp.latents). `ema`: sample the generator's weight average (True), the raw
    generator (False), or the average when the checkpoint has one (None)."""
    generator = load_generator(ckpt_path, ema)
    codes = load_latent_codes(ckpt_path, generator.latent_dim)
    if labels is not None:
        labels = _check_labels(generator, labels, num_samples)
    rng = step_generator(seed, 0, EVAL)
    chunks = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        z, drawn = draw_inputs(generator, n, rng, codes)  # the draws do not depend on `labels`
        chunks.append(generate(generator, z, drawn if labels is None else labels[start : start + n]))
    return torch.cat(chunks) if chunks else torch.empty(0, *generator.data_shape)


def per_class_labels(ckpt_path: str | Path, per_class: int) -> torch.Tensor:
    """Labels 0, .., 0, 1, .., 1, ... (per_class of each class) for `sample`: a grid with one row per class."""
    generator = load_generator(ckpt_path)
    if not takes_labels(generator):
        raise UserInputError(
            f"per_class needs a class-conditional generator; this checkpoint's ({type(generator).__name__}) is not."
        )
    return torch.arange(generator.num_classes).repeat_interleave(per_class)


@torch.no_grad()
def traverse_codes(
    ckpt_path: str | Path,
    continuous: int = 0,
    columns: int = 8,
    span: float = 2.0,
    seed: int = 0,
    ema: bool | None = None,
) -> torch.Tensor:
    """InfoGAN latent traversal: one row per value of the first categorical code, `columns` images along
    continuous code `continuous` from -span to span (InfoGAN's figures: -2 to 2), the noise and the other
    codes fixed (the other continuous codes at 0, other categorical codes at 0). (rows * columns, C, H, W)."""
    generator = load_generator(ckpt_path, ema)
    codes = load_latent_codes(ckpt_path, generator.latent_dim)
    if codes is None:
        raise UserInputError("codes= traverses InfoGAN codes, but this checkpoint's run has none (objective=infogan).")
    if not 0 <= continuous < codes.continuous:
        raise UserInputError(
            f"codes={continuous}: the run has {codes.continuous} continuous codes; pick one of "
            f"0..{codes.continuous - 1}."
        )
    rows, n = codes.categorical[0], codes.categorical[0] * columns
    noise = torch.randn(1, codes.noise_dim, generator=step_generator(seed, 0, EVAL)).expand(n, -1)
    first = torch.arange(rows).repeat_interleave(columns)  # row r: value r of the first code
    others = [torch.zeros(n, dtype=torch.int64) for _ in codes.categorical[1:]]
    cont = torch.zeros(n, codes.continuous)
    cont[:, continuous] = torch.linspace(-span, span, columns).repeat(rows)
    return generate(generator, codes.join(noise, [first, *others], cont))
