"""The evaluator interface: fixed evaluation inputs in `setup`, numbers from `evaluate`, files from `write`."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wgangp.evaluation.context import EvalContext


@dataclass(frozen=True)
class Image:
    """An image file an evaluator wrote; loggers with `log_image` (W&B) get it under `key`."""

    key: str
    path: Path


@dataclass(frozen=True)
class Table:
    """Rows of text for loggers with `log_text` (W&B)."""

    key: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


Artifact = Image | Table


class Evaluator:
    """One measurement of a generator (and its critic), scheduled in generator iterations.

    Subclasses implement `evaluate` and, where they need them, `setup`, `write` and `finish`. The
    periodic callback (wgangp.evaluation.callback) calls, on global rank 0 unless `all_ranks`:
    `setup` once before training; at every generator iteration k with k % every_n_iters == 0 (and at
    the start when `at_start`, and once at the end) `evaluate` with both nets in eval mode under
    no_grad, then appends (k, metrics) to `history`, then `write(k)`; at the end `finish(k)`. An
    iteration is evaluated once: the end of training at an iteration already evaluated only finishes.
    src/eval.py calls `setup` and `evaluate` alone. Both build the `EvalContext` that `setup` gets the same
    way (wgangp.evaluation.context.objective_context).

    Args:
        every_n_iters: evaluation interval in generator iterations; 0 evaluates at the end only (to turn an
            evaluator off, set it to null: evaluators.NAME=null).
        at_start: also evaluate before the first training step (the untrained or resumed generator).
    """

    #: run on every DDP rank (the evaluator shards its work and syncs its result), not on rank 0 alone
    all_ranks = False

    def __init__(self, every_n_iters: int = 0, at_start: bool = False) -> None:
        self.every_n_iters = int(every_n_iters)
        self.at_start = bool(at_start)
        self.history: list[tuple[int, dict[str, float]]] = []  # (generator iteration, metrics): the curves

    def twin(self, name: str) -> Evaluator:
        """This evaluator, set up, for a second generator of the run (`name`: "ema", the weight average): it
        shares the fixed inputs of `setup` (latents, real statistics, feature extractor), keeps its own
        history and writes its files under `out_dir/name` (evaluators that write files keep them under
        `self.out_dir`, by default the context's run directory). The periodic callback prefixes its metrics
        `val/<name>/`."""
        other = copy.copy(self)
        other.history = []
        if getattr(self, "out_dir", None) is not None:
            other.out_dir = Path(self.out_dir) / name
        return other

    def due(self, step: int) -> bool:
        return bool(self.every_n_iters) and step % self.every_n_iters == 0

    def setup(self, datamodule, context: EvalContext) -> None:
        """Fix the evaluation inputs (real points from `datamodule`, latents and labels from named streams
        `context.rng(name)` drawn with `context.draw`, reference statistics). `context`
        (wgangp.evaluation.context.EvalContext) is all an evaluator knows of the run: seed, latent prior,
        classes, run config, run directory, device."""

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        """Metrics named `val/...` of the generator and critic as they are now."""
        raise NotImplementedError

    def write(self, step: int) -> list[Artifact]:
        """Files of the evaluation just made at generator iteration `step` (none by default)."""
        return []

    def finish(self, step: int) -> list[Artifact]:
        """Files at the end of training, e.g. curves over `history` (none by default)."""
        return []

    def describe(self) -> dict[str, Any]:
        """Settings src/eval.py records next to the scores in its JSON."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Kept in checkpoints, so a resumed run's curves continue."""
        return {"history": [[k, dict(m)] for k, m in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [(int(k), {n: float(v) for n, v in m.items()}) for k, m in state.get("history", [])]


def output_dir(out_dir: str | Path | None, context: EvalContext) -> Path:
    """Where an evaluator writes: its `out_dir` setting, or the run directory (`context.out_dir`) when unset."""
    return Path(out_dir) if out_dir else context.out_dir


def device_of(module: nn.Module) -> torch.device:
    """Where a net's parameters live (evaluators run where the nets train)."""
    return next(module.parameters()).device


def in_chunks(fn, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """fn applied to consecutive chunks of x on fn's device, concatenated on the CPU in float32."""
    return torch.cat([fn(chunk).float().cpu() for chunk in x.split(batch_size)])


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
