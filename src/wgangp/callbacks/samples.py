"""Sample grids over training with a fixed z, so each cell follows one latent point (images only)."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torchvision.utils import save_image

from wgangp.callbacks.quality import is_image_data
from wgangp.rng import EVAL, step_generator
from wgangp.sampling import eval_mode


class SampleGrid(Callback):
    """Writes `samples/samples_NNNNNNN.png` every `every_n_iters` generator iterations and
    `samples.png` at the end, a grid of `num_samples` images from the same z every time; also logs
    them as images to loggers that have `log_image` (W&B). Does nothing on 2-d data."""

    def __init__(self, out_dir: str, every_n_iters: int = 1000, num_samples: int = 64) -> None:
        self.out_dir = Path(out_dir)
        self.every_n_iters = int(every_n_iters)
        self.num_samples = int(num_samples)
        self.enabled = False
        self._z: torch.Tensor | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.enabled = trainer.is_global_zero and is_image_data(trainer.datamodule)
        if self.enabled:
            # stream index 1: apart from the z that the quality metrics score
            rng = step_generator(pl_module.seed, 1, EVAL)
            self._z = torch.randn(self.num_samples, pl_module.latent_dim, generator=rng)  # (n, latent_dim)

    @torch.no_grad()
    def write(self, trainer: L.Trainer, pl_module, path: Path) -> Path:
        """Draw the grid of G(z_fixed) into `path` (PNG) and send it to image-capable loggers."""
        with eval_mode(pl_module.generator):
            images = pl_module.generator(self._z.to(pl_module.device)).float().cpu()  # (n, C, H, W) in [-1, 1]
        path.parent.mkdir(parents=True, exist_ok=True)
        nrow = math.ceil(math.sqrt(self.num_samples))
        save_image(images, path, nrow=nrow, normalize=True, value_range=(-1, 1))
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):  # W&B
                logger.log_image("val/samples", [str(path)], step=pl_module.generator_iter)
        return path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        k = pl_module.generator_iter
        if self.enabled and self.every_n_iters and k % self.every_n_iters == 0:
            self.write(trainer, pl_module, self.out_dir / "samples" / f"samples_{k:07d}.png")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.enabled:
            self.write(trainer, pl_module, self.out_dir / "samples.png")
