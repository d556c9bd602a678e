"""A progress bar in generator iterations (the paper's unit), showing the W estimate."""

from __future__ import annotations

import math

from lightning.pytorch.callbacks import TQDMProgressBar


class GeneratorIterProgressBar(TQDMProgressBar):
    """TQDM bar whose position and total count generator iterations, not optimizer steps."""

    @property
    def total_train_batches(self) -> int | float:
        trainer = self.trainer
        if trainer.max_steps is None or trainer.max_steps < 0:
            return math.inf
        return trainer.max_steps // trainer.lightning_module.optimizer_steps_per_iter

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self.train_progress_bar.initial = pl_module.generator_iter  # a resumed run starts mid-way
        self.train_progress_bar.n = pl_module.generator_iter
        self.train_progress_bar.set_description("generator iters")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = pl_module.generator_iter
        if self._should_update(n, self.train_progress_bar.total):
            self.train_progress_bar.n = n
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))  # refreshes

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
