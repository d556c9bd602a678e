"""Sample grids over training with a fixed z, so each cell follows one latent point (image data)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torchvision.utils import save_image

from wgangp.evaluation.base import Artifact, Evaluator, Image, device_of
from wgangp.rng import EVAL, step_generator


class SampleGrid(Evaluator):
    """A grid of `num_samples` images G(z) from the same z every time: `samples/samples_NNNNNNN.png`
    at each evaluation and `samples.png` at the end, also sent to loggers with `log_image` (W&B) as
    `val/samples`. No metrics."""

    def __init__(self, out_dir: str, every_n_iters: int = 1000, num_samples: int = 64, at_start: bool = False) -> None:
        super().__init__(every_n_iters, at_start)
        self.out_dir = Path(out_dir)
        self.num_samples = int(num_samples)
        self._z: torch.Tensor | None = None
        self._images: torch.Tensor | None = None

    def setup(self, datamodule, objective) -> None:
        # stream index 1: apart from the z that the quality metrics score
        rng = step_generator(objective.seed, 1, EVAL)
        self._z = torch.randn(self.num_samples, objective.latent_dim, generator=rng)  # (n, latent_dim)

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        self._images = generator(self._z.to(device_of(generator))).float().cpu()  # (n, C, H, W) in [-1, 1]
        return {}

    def _grid(self, path: Path) -> list[Artifact]:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(self._images, path, nrow=math.ceil(math.sqrt(self.num_samples)), normalize=True, value_range=(-1, 1))
        return [Image("val/samples", path)]

    def write(self, step: int) -> list[Artifact]:
        return self._grid(self.out_dir / "samples" / f"samples_{step:07d}.png")

    def finish(self, step: int) -> list[Artifact]:
        return self._grid(self.out_dir / "samples.png")
