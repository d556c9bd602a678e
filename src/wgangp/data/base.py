"""The base data module: a `Source` turned into the per-generator-iteration stream of real batches."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from wgangp.data.stream import Source, StepSampler, StepStream
from wgangp.rng import EVAL_DATA, step_generator


class GANDataModule(L.LightningDataModule):
    """Subclasses provide `source` (a wgangp.data.stream.Source) and `data_shape`.

    Args:
        batch_size: real samples per critic step and per device (m of Alg. 1).
        num_workers: DataLoader worker processes; they never change what is drawn.
        seed: root of the data stream (train.py passes the run's seed).
        batches_per_step: real batches per generator iteration (train.py passes n_critic).
    """

    data_shape: tuple[int, ...]

    def __init__(self, batch_size: int, num_workers: int = 0, seed: int = 0, batches_per_step: int = 1) -> None:
        super().__init__()
        if batch_size < 1 or batches_per_step < 1:
            raise ValueError(
                f"batch_size={batch_size} and batches_per_step={batches_per_step} must both be at least 1"
            )
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.batches_per_step = int(batches_per_step)

    @property
    def source(self) -> Source:
        raise NotImplementedError

    def _start_iteration(self) -> int:
        """Resume: the stream starts at the generator iteration restored from the checkpoint."""
        trainer = self.trainer
        module = trainer.lightning_module if trainer is not None else None
        return int(getattr(module, "generator_iter", 0))

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        sampler = StepSampler(self.source, self.seed, self.batches_per_step, self.batch_size, rank, world)
        return DataLoader(
            StepStream(sampler, start=self._start_iteration()),
            batch_size=None,  # the sampler already batches
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def eval_samples(self, n: int, index: int = 0) -> Tensor:
        """`n` real samples for evaluation, fixed by (seed, index) and disjoint from the training stream."""
        return self.source.sample(n, step_generator(self.seed, index, EVAL_DATA))["real"]
