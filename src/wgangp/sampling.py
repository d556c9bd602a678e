"""Sampling from a finished run with nothing but its checkpoint: `wgangp.sample(ckpt_path, n)`."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Callable
from pathlib import Path

import torch
from hydra.utils import get_class
from torch import nn

from wgangp.build import build_generator
from wgangp.checkpoints import check_buildable, check_weights, load_checkpoint
from wgangp.config_checks import SAMPLE_RULES, Rule, count
from wgangp.errors import UserInputError
from wgangp.evaluation.context import EvalContext, eval_context, generate
from wgangp.host import SKIP_ENV, format_bytes, host_free_memory
from wgangp.latents import LatentCodes
from wgangp.nets.conditional import needs_labels, takes_labels

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
    check_buildable(config, ckpt_path)  # what is built from a file may only be a class the config tree names
    # a class-conditional generator is built with the data's num_classes, which wgangp.build stored
    num_classes = info["run_config"].get("num_classes")
    if needs_labels(get_class(config["_target_"])) and (not isinstance(num_classes, int) or num_classes < 1):
        raise UserInputError(
            f"checkpoint {ckpt_path} holds a class-conditional generator but no usable num_classes in its run "
            f"configuration ({num_classes!r}): the file was edited or damaged. Use another checkpoint of the run."
        )
    data_shape = tuple(info["data_shape"])
    generator = build_generator(config, data_shape, num_classes)  # as training built it
    prefix = EMA_PREFIX if use_ema(ckpt, ema, ckpt_path) else "generator."
    state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    check_weights(state, generator.state_dict(), ckpt_path, "generator")
    generator.load_state_dict(state)
    generator.eval()
    with torch.no_grad():  # an edited data_shape can leave every weight's shape intact: one sample tells
        z, labels = eval_context(generator, seed=0).draw(2, torch.Generator().manual_seed(0))
        shape = tuple(generate(generator, z, labels).shape[1:])
    if shape != data_shape:
        raise UserInputError(
            f"checkpoint {ckpt_path} says its data has shape {data_shape}, but the generator its configuration "
            f"builds makes samples of shape {shape}: the file was edited or damaged. Use another checkpoint of the run."
        )
    return generator


def load_vocabulary(ckpt_path: str | Path) -> list[str] | None:
    """The characters by id of a text run's checkpoint (stored by wgangp.build.build), else None."""
    return (load_checkpoint(ckpt_path)["wgangp"].get("run_config") or {}).get("vocabulary")


def load_latent_codes(ckpt_path: str | Path, latent_dim: int) -> LatentCodes | None:
    """The InfoGAN code layout of a checkpoint's run (its objective config), None for runs without codes."""
    return LatentCodes.from_config(load_checkpoint(ckpt_path)["wgangp"]["run_config"].get("objective"), latent_dim)


def sampling_context(ckpt_path: str | Path, generator: nn.Module, seed: int) -> EvalContext:
    """The evaluation context of a checkpoint's generator (wgangp.evaluation.context.eval_context, as the
    evaluators get it): its latent prior, InfoGAN codes and classes, for the root seed `seed`."""
    return eval_context(generator, seed, codes=load_latent_codes(ckpt_path, generator.latent_dim))


# ---- the arguments of sample / per_class_labels / traverse_codes ------------------------------------------------
# The command line checks the same fields with SAMPLE_RULES (wgangp.config_checks); the API says the same.


def _check_argument(name: str, value, where: str, rule: Rule | None = None):
    """`value` of the API argument `name` as SAMPLE_RULES (or `rule`) accepts it (an integral float or a 0-d
    tensor becomes a plain int or float), else the UserInputError the command line would give."""
    rule = dataclasses.replace(rule or SAMPLE_RULES[name], nullable=False)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = int(value) if isinstance(value, numbers.Integral) else float(value)
    if not rule.accepts(value):
        raise UserInputError(f"{name}={value!r} is invalid: it must be {rule.describe()}. Fix the argument of {where}.")
    return int(value) if rule.kind == "int" else value


def show_labels(values: torch.Tensor) -> str:
    """The first ten of `values` as the command line writes a list: [1.5, 2.9] (and how many there are)."""
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:10].tolist())
    return f"[{shown}{f', ... ({values.numel()} labels)' if values.numel() > 10 else ''}]"


def label_values(labels) -> torch.Tensor:
    """`labels` (a tensor, array or list of class numbers) as a LongTensor (N,), refusing what is not a
    non-empty list of whole numbers instead of truncating it (1.5 is not class 1)."""
    try:
        values = torch.as_tensor(labels).flatten()
    except (TypeError, ValueError, RuntimeError) as err:
        raise UserInputError(
            f"labels={repr(labels)[:100]} is invalid: it must be a list of integer class labels, one per sample, e.g. "
            "labels=[3,3,5]."
        ) from err
    shown = show_labels(values)
    if values.numel() == 0:
        raise UserInputError(
            "labels=[] is invalid: it must hold one integer class label per sample; give at least one, e.g. "
            "labels=[3,3,5], or leave labels unset for uniform classes."
        )
    if values.dtype == torch.bool or values.is_complex():
        raise UserInputError(f"labels={shown} is invalid: class labels must be integers, got {values.dtype}.")
    if values.is_floating_point():
        bad = values[~(torch.isfinite(values) & (values == values.round()))]
        if bad.numel():
            raise UserInputError(
                f"labels={shown} is invalid: class labels must be integers, and {show_labels(bad)[1:-1]} "
                f"{'is' if bad.numel() == 1 else 'are'} not (labels are never rounded); pass whole class numbers, "
                "e.g. labels=[1,2]."
            )
        values = values.clamp(-(2**62), 2**62)  # whole but huge (1e20): refused as out of range, not wrapped
    return values.to(torch.int64)


def _check_labels(generator: nn.Module, labels, num_samples: int) -> torch.Tensor:
    """`labels` as a LongTensor (num_samples,) of classes of `generator`, else UserInputError."""
    if not takes_labels(generator):
        raise UserInputError(
            f"labels were given but this checkpoint's generator ({type(generator).__name__}) is not class-conditional; "
            "sample it without labels (or train a conditional model: model=dcgan_cond, resnet_cond, resnet_acgan)."
        )
    labels = label_values(labels)
    shown, classes = show_labels(labels), generator.num_classes
    outside = labels[(labels < 0) | (labels >= classes)]
    if outside.numel():
        raise UserInputError(
            f"labels={shown} is invalid: labels must hold one class in 0..{classes - 1} per sample (this checkpoint's "
            f"generator has {classes} classes), and {show_labels(outside.unique())[1:-1]} "
            f"{'is' if outside.unique().numel() == 1 else 'are'} outside that range; pass classes in 0..{classes - 1}."
        )
    if len(labels) != num_samples:
        raise UserInputError(
            f"num_samples={num_samples} and labels={shown} disagree: labels must hold one class in 0..{classes - 1} "
            f"per sample, and there are {len(labels)}; pass num_samples={len(labels)} or {num_samples} labels."
        )
    return labels


def _check_output_memory(
    num_samples: int,
    data_shape: tuple[int, ...],
    batch_size: int,
    asked: str,
    fix: Callable[[int], str],
    with_labels: bool = False,
) -> None:
    """Refuse, before generating, `num_samples` fp32 samples of `data_shape` (plus the batch being generated)
    that do not fit in the memory still available, naming how many would. `asked`: the argument(s) that ask
    for them; `fix(fit)`: how to ask for fewer, given the number that fits; `with_labels`: an int64 label
    per sample is held too."""
    if os.environ.get(SKIP_ENV) == "1":
        return
    per_sample = 4.0 * math.prod(int(d) for d in data_shape) + (8.0 if with_labels else 0.0)  # fp32, int64
    need = per_sample * (num_samples + min(batch_size, num_samples))
    free, source = host_free_memory()
    if need <= free:
        return
    budget = int(0.8 * free // per_sample)  # samples in 80% of it, less the batch being generated
    fit = budget - batch_size if budget >= 2 * batch_size else budget // 2
    raise UserInputError(
        f"{asked} would hold about {format_bytes(need)} of samples of shape {tuple(data_shape)} "
        f"({format_bytes(per_sample)} "
        f"each{' with its label' if with_labels else ''}) in memory, but only {format_bytes(free)} is available "
        f"({source}): about {fit} samples fit. "
        f"{fix(fit)}, or free memory; {SKIP_ENV}=1 skips this check."
    )


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
    generator (False), or the average when the checkpoint has one (None).

    Arguments the command line would refuse (num_samples < 1, a seed outside [0, 2**32 - 1], batch_size < 1,
    labels that are not whole classes of this generator, one per sample) and an output larger than the memory
    still available raise UserInputError, before anything is generated."""
    num_samples = _check_argument("num_samples", num_samples, "wgangp.sample")
    seed = _check_argument("seed", seed, "wgangp.sample")
    batch_size = _check_argument("batch_size", batch_size, "wgangp.sample", count(1))
    if labels is not None:
        labels = label_values(labels)  # before loading: 1.5 is refused, never truncated to class 1
    generator = load_generator(ckpt_path, ema)
    context = sampling_context(ckpt_path, generator, seed)
    if labels is not None:
        labels = _check_labels(generator, labels, num_samples)
    _check_output_memory(
        num_samples,
        tuple(generator.data_shape),
        batch_size,
        f"num_samples={num_samples}",
        lambda fit: (
            f"Draw them in several smaller calls of at most {fit} samples, each with a different seed= value "
            "(seed=0, seed=1, ...: each seed gives other samples)"
        ),
    )
    rng = context.rng("sample")  # the evaluators' "quality" and "w1" z share its stream (wgangp.rng.EVAL_STREAMS)
    out = None  # filled in place: the batches and a torch.cat of them would need the output's memory twice
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        z, drawn = context.draw(n, rng)  # the draws do not depend on `labels`
        batch = generate(generator, z, drawn if labels is None else labels[start : start + n])
        if out is None:
            out = batch.new_empty((num_samples, *batch.shape[1:]))
        out[start : start + n] = batch
    return out


def per_class_labels(ckpt_path: str | Path, per_class: int) -> torch.Tensor:
    """Labels 0, .., 0, 1, .., 1, ... (per_class of each class) for `sample`: a grid with one row per class."""
    per_class = _check_argument("per_class", per_class, "wgangp.sampling.per_class_labels")
    generator = load_generator(ckpt_path)
    if not takes_labels(generator):
        raise UserInputError(
            f"per_class needs a class-conditional generator; this checkpoint's ({type(generator).__name__}) is not."
        )
    classes = generator.num_classes
    _check_output_memory(
        classes * per_class,
        tuple(generator.data_shape),
        1000,  # sample()'s default batch
        f"per_class={per_class} ({classes} classes, {classes * per_class} samples)",
        lambda fit: f"Lower per_class to at most {max(1, fit // classes)}",
        with_labels=True,
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
    where = "wgangp.sampling.traverse_codes"
    continuous = _check_argument("continuous", continuous, where, SAMPLE_RULES["codes"])
    columns = _check_argument("columns", columns, where)
    span = float(_check_argument("span", span, where))
    seed = _check_argument("seed", seed, where)
    generator = load_generator(ckpt_path, ema)
    context = sampling_context(ckpt_path, generator, seed)
    codes = context.codes
    if codes is None:
        raise UserInputError("codes= traverses InfoGAN codes, but this checkpoint's run has none (objective=infogan).")
    if not 0 <= continuous < codes.continuous:
        raise UserInputError(
            f"codes={continuous}: the run has {codes.continuous} continuous codes; pick one of "
            f"0..{codes.continuous - 1}."
        )
    rows, n = codes.categorical[0], codes.categorical[0] * columns
    _check_output_memory(
        n,
        tuple(generator.data_shape),
        n,
        f"columns={columns} ({rows} rows of categorical values, {n} samples)",
        lambda fit: f"Lower columns to at most {max(1, fit // rows)}",
    )
    noise = torch.randn(1, codes.noise_dim, generator=context.rng("sample")).expand(n, -1)
    first = torch.arange(rows).repeat_interleave(columns)  # row r: value r of the first code
    others = [torch.zeros(n, dtype=torch.int64) for _ in codes.categorical[1:]]
    cont = torch.zeros(n, codes.continuous)
    cont[:, continuous] = torch.linspace(-span, span, columns).repeat(rows)
    return generate(generator, codes.join(noise, [first, *others], cont))
