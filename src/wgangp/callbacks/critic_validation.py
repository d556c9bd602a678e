"""Meaningful loss curves and overfitting (Sec. 5.6, Fig. 5b): the critic's W estimate on held-out data."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from wgangp.plots import save_curves
from wgangp.rng import EVAL, step_generator
from wgangp.sampling import eval_mode


class CriticValidation(Callback):
    """Every `every_n_iters` generator iterations and at the end, the negative critic loss without
    penalty, E[D(real)] - E[D(G(z))], on two fixed sets of `num_samples` real points: held-out ones
    (`val/w_estimate`) and training ones (`val/w_estimate_train`), both against the same generated
    points, the critic in eval mode. Their difference `val/w_estimate_gap` is the overfitting signal
    of Sec. 5.6: a critic that memorises its training data scores it above unseen data of the same
    distribution. `train/w_estimate` (from the training steps, the critic in train mode) is logged by
    the objective as well. Writes `w_estimate.png` (Fig. 5b's panel) at the end.
    """

    def __init__(self, out_dir: str, every_n_iters: int = 1000, num_samples: int = 1000, batch_size: int = 500) -> None:
        self.out_dir = Path(out_dir)
        self.every_n_iters = int(every_n_iters)
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.enabled = False
        self.history: list[tuple[int, float, float]] = []  # (generator iteration, train, val)
        self._points: dict[str, torch.Tensor] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.enabled = trainer.is_global_zero and self.every_n_iters > 0
        if self.enabled:
            dm = trainer.datamodule
            # index 1: not the points the quality metrics or W1 use, fixed for the whole run
            n = self.num_samples
            self._points = {split: dm.eval_samples(n, index=1, split=split) for split in ("train", "val")}
            self._z = torch.randn(n, pl_module.latent_dim, generator=step_generator(pl_module.seed, 1, EVAL))

    @torch.no_grad()
    def _mean_score(self, pl_module, x: torch.Tensor) -> float:
        chunks = [pl_module.critic(x[i:i + self.batch_size].to(pl_module.device)).float().flatten()
                  for i in range(0, len(x), self.batch_size)]
        return float(torch.cat(chunks).mean())

    @torch.no_grad()
    def evaluate(self, pl_module) -> dict[str, float]:
        k = pl_module.generator_iter
        if self.history and self.history[-1][0] == k:
            return {}
        with eval_mode(pl_module.generator, pl_module.critic):
            fake = torch.cat([pl_module.generator(self._z[i:i + self.batch_size].to(pl_module.device))
                              for i in range(0, len(self._z), self.batch_size)])
            d_fake = self._mean_score(pl_module, fake)
            train = self._mean_score(pl_module, self._points["train"]) - d_fake
            val = self._mean_score(pl_module, self._points["val"]) - d_fake
        self.history.append((k, train, val))
        metrics = {"val/w_estimate": val, "val/w_estimate_train": train, "val/w_estimate_gap": train - val}
        pl_module.log_metrics(metrics)
        return metrics

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.enabled and pl_module.generator_iter % self.every_n_iters == 0:
            self.evaluate(pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled:
            return
        self.evaluate(pl_module)
        steps, train, val = zip(*self.history, strict=True)
        path = save_curves(self.out_dir / "w_estimate.png", steps, {"training data": train, "held-out data": val},
                           "negative critic loss E[D(real)] - E[D(G(z))]")
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):  # W&B
                logger.log_image("val/w_estimate_curve", [str(path)], step=pl_module.generator_iter)
