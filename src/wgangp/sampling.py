"""Sampling from a finished run with nothing but its checkpoint: `wgangp.sample(ckpt_path, n)`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from hydra.utils import instantiate
from torch import nn

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
    """torch.load a wgangp checkpoint on the CPU, with a clear error when the file is not one."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; runs write theirs to <run dir>/checkpoints/last.ckpt"
        )
    ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    if not isinstance(ckpt, dict) or "wgangp" not in ckpt:
        raise ValueError(f"{path} is not a wgangp training checkpoint (it has no 'wgangp' section)")
    return ckpt


def load_generator(ckpt_path: str | Path) -> nn.Module:
    """Rebuild the generator from the config stored in the checkpoint and load its weights (eval mode)."""
    ckpt = load_checkpoint(ckpt_path)
    info = ckpt["wgangp"]
    generator = instantiate(info["run_config"]["model"]["generator"], data_shape=tuple(info["data_shape"]))
    prefix = "generator."
    state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    generator.load_state_dict(state)
    return generator.eval()


def load_vocabulary(ckpt_path: str | Path) -> list[str] | None:
    """The characters by id of a text run's checkpoint (stored by wgangp.build.build), else None."""
    return (load_checkpoint(ckpt_path)["wgangp"].get("run_config") or {}).get("vocabulary")


@torch.no_grad()
def sample(ckpt_path: str | Path, num_samples: int, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """`num_samples` samples in data space from a checkpoint: points (N, D) for toy data, images in
    [-1, 1] as (N, C, H, W) for image data, per-position character distributions (N, vocab, seq_len)
    for text (decode with load_vocabulary). Deterministic in `seed`."""
    generator = load_generator(ckpt_path)
    rng = step_generator(seed, 0, EVAL)
    chunks = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        chunks.append(generator(torch.randn(n, generator.latent_dim, generator=rng)))
    return torch.cat(chunks) if chunks else torch.empty(0, *generator.data_shape)
