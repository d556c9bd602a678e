"""Toy-problem diagnostics: exact W1 during training, the value-surface plot and the W1 curve."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from wgangp.metrics.w1 import wasserstein1
from wgangp.plots import save_curve, save_value_surface
from wgangp.rng import EVAL, step_generator
from wgangp.sampling import eval_mode


class ToyDiagnostics(Callback):
    """On 2-d data: logs `val/w1` (exact EMD between `num_points` generated and real points, by POT)
    every `every_n_iters` generator iterations and at the end; writes `value_surface.png` (critic
    contours with real and generated points, Fig. 1a style) every `plot_every_n_iters` into
    plots/ and at the end, and `w1_curve.png`. Does nothing on other data."""

    def __init__(
        self, out_dir: str, every_n_iters: int = 100, num_points: int = 1000, plot_every_n_iters: int = 500,
        extent: float = 3.0,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.every_n_iters = int(every_n_iters)
        self.num_points = int(num_points)
        self.plot_every_n_iters = int(plot_every_n_iters)
        self.extent = float(extent)
        self.enabled = False
        self.history: list[tuple[int, float]] = []
        self._real: torch.Tensor | None = None
        self._z: torch.Tensor | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        dm = trainer.datamodule
        self.enabled = trainer.is_global_zero and tuple(getattr(dm, "data_shape", ())) == (2,)
        if self.enabled:
            # Fixed evaluation points, so the curve tracks the generator and not resampling noise.
            self._real = dm.eval_samples(self.num_points, index=0)
            rng = step_generator(pl_module.seed, 0, EVAL)
            self._z = torch.randn(self.num_points, pl_module.latent_dim, generator=rng)

    @torch.no_grad()
    def _generated(self, pl_module) -> torch.Tensor:
        with eval_mode(pl_module.generator):
            return pl_module.generator(self._z.to(pl_module.device)).float().cpu()

    def _evaluate(self, trainer: L.Trainer, pl_module) -> None:
        k = pl_module.generator_iter
        if self.history and self.history[-1][0] == k:
            return
        t0 = time.perf_counter()
        w1 = wasserstein1(self._generated(pl_module), self._real)
        self.history.append((k, w1))
        pl_module.log_metrics({"val/w1": w1, "val/w1_seconds": time.perf_counter() - t0})
        trainer.callback_metrics["val/w1"] = torch.tensor(w1)

    def _plot(self, pl_module, path: Path) -> Path:
        critic, device = pl_module.critic, pl_module.device
        with eval_mode(critic):
            return save_value_surface(
                path, lambda x: critic(x.to(device)).float().cpu(), self._real, self._generated(pl_module),
                self.extent, title=f"generator iteration {pl_module.generator_iter}",
            )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.enabled:
            return
        k = pl_module.generator_iter
        if self.every_n_iters and k % self.every_n_iters == 0:
            self._evaluate(trainer, pl_module)
        if self.plot_every_n_iters and k % self.plot_every_n_iters == 0:
            self._plot(pl_module, self.out_dir / "plots" / f"value_surface_{k:07d}.png")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled:
            return
        self._evaluate(trainer, pl_module)
        surface = self._plot(pl_module, self.out_dir / "value_surface.png")
        steps, values = zip(*self.history, strict=True)
        curve = save_curve(self.out_dir / "w1_curve.png", steps, values, "W1 (1000 vs 1000 points)")
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):  # W&B
                logger.log_image("val/value_surface", [str(surface)], step=pl_module.generator_iter)
                logger.log_image("val/w1_curve", [str(curve)], step=pl_module.generator_iter)
