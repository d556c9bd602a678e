"""A progress bar in generator iterations (the paper's unit, and trainer.global_step), showing the W estimate."""

from __future__ import annotations

import math

from lightning.pytorch.callbacks import TQDMProgressBar


class GeneratorIterProgressBar(TQDMProgressBar):
    """TQDM bar over max_steps generator iterations that starts a resumed run where it stopped."""

    @property
    def total_train_batches(self) -> int | float:
        max_steps = self.trainer.max_steps
        return math.inf if max_steps is None or max_steps < 0 else max_steps

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self.train_progress_bar.initial = trainer.global_step  # a resumed run starts mid-way
        self.train_progress_bar.n = trainer.global_step
        self.train_progress_bar.set_description("generator iters")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = trainer.global_step
        if self._should_update(n, self.train_progress_bar.total):
            self.train_progress_bar.n = n
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))  # refreshes

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
