"""An unbounded stream of real batches keyed by generator iteration.

Generator iteration s draws its real data from the random stream (seed, s, DATA) (see wgangp.rng):
one tensor of shape (batches, batch_size, *data_shape), one fresh batch per critic step (Alg. 1
l.3). Keying by step makes resume exact (start the stream at the restored iteration), makes
DataLoader workers harmless (worker w produces steps w, w + W, ...; the loader interleaves them back
in order), and makes DDP exact (each rank draws the global batch and keeps its slice).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor
from torch.utils.data import IterableDataset, get_worker_info

from wgangp.rng import DATA, step_generator


class Source(Protocol):
    """Anything that draws `n` samples with a given generator: {"real": (n, *data_shape), ...}."""

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]: ...


@dataclass
class StepSampler:
    """Draws generator iteration `step`'s real batches: (batches, batch_size, ...) per key.

    With world_size > 1 it draws the global batch (batch_size * world_size per critic step) and
    returns this rank's slice, so the union over ranks is what one process would have seen.
    """

    source: Source
    seed: int
    batches: int
    batch_size: int
    rank: int = 0
    world_size: int = 1

    def __call__(self, step: int) -> dict[str, Tensor]:
        per_batch = self.batch_size * self.world_size
        draw = self.source.sample(self.batches * per_batch, step_generator(self.seed, step, DATA))
        lo, hi = self.rank * self.batch_size, (self.rank + 1) * self.batch_size
        return {k: v.reshape(self.batches, per_batch, *v.shape[1:])[:, lo:hi] for k, v in draw.items()}


class StepStream(IterableDataset):
    """Yields sampler(start), sampler(start + 1), ... forever; DataLoader workers split the steps."""

    def __init__(self, sampler: StepSampler, start: int = 0) -> None:
        self.sampler = sampler
        self.start = int(start)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        step = self.start + worker
        while True:
            yield self.sampler(step)
            step += workers
