"""Checkpoints counted in generator iterations, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback


def atomic_save_checkpoint(trainer: L.Trainer, path: Path) -> None:
    """trainer.save_checkpoint to `path` through a temporary file, fsync and rename.

    A process killed at any moment leaves either the old file or the new one, never half of one.
    Every rank must call this (Lightning synchronises inside save_checkpoint); rank 0 writes.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    trainer.save_checkpoint(tmp, weights_only=False)
    if trainer.is_global_zero:
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)


class IterationCheckpoint(Callback):
    """Writes `last.ckpt` every `last_every_n_iters` generator iterations and at the end of training,
    and a kept `iter_NNNNNNN.ckpt` every `every_n_iters` (0 disables either)."""

    def __init__(self, dirpath: str, every_n_iters: int = 10_000, last_every_n_iters: int = 500) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_iters = int(every_n_iters)
        self.last_every_n_iters = int(last_every_n_iters)
        self._last_saved_iter = -1

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def _save_last(self, trainer: L.Trainer, generator_iter: int) -> None:
        if generator_iter != self._last_saved_iter:
            atomic_save_checkpoint(trainer, self.last_path)
            self._last_saved_iter = generator_iter

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        k = pl_module.generator_iter
        if self.every_n_iters and k % self.every_n_iters == 0:
            atomic_save_checkpoint(trainer, self.dirpath / f"iter_{k:07d}.ckpt")
        if self.last_every_n_iters and k % self.last_every_n_iters == 0:
            self._save_last(trainer, k)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save_last(trainer, pl_module.generator_iter)
