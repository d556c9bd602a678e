"""Sample grids over training with a fixed z, so each cell follows one latent point (image data)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torchvision.utils import save_image

from wgangp.evaluation.base import Artifact, Evaluator, Image, output_dir
from wgangp.evaluation.context import EvalContext, generate

MAX_CLASS_ROWS = 16  # a conditional grid shows the first 16 classes of data sets with more (ImageNet 32x32)


class SampleGrid(Evaluator):
    """A grid of `num_samples` images G(z) from the same z every time: `samples/samples_NNNNNNN.png`
    at each evaluation and `samples.png` at the end, also sent to loggers with `log_image` (W&B) as
    `val/samples`. No metrics.

    A class-conditional generator gets one row per class (at most MAX_CLASS_ROWS), each of
    ceil(num_samples / rows) columns, with the same z down each column: what changes along a column is
    the class alone."""

    def __init__(
        self, out_dir: str | None = None, every_n_iters: int = 1000, num_samples: int = 64, at_start: bool = False
    ) -> None:
        super().__init__(every_n_iters, at_start)
        self.out_dir = Path(out_dir) if out_dir else None  # None: the run directory (context.out_dir)
        self.num_samples = int(num_samples)
        self._z: torch.Tensor | None = None
        self._images: torch.Tensor | None = None

    def setup(self, datamodule, context: EvalContext) -> None:
        self.out_dir = output_dir(self.out_dir, context)
        # its own named stream (wgangp.rng.EVAL_STREAMS), fixed for the whole run
        rng = context.rng("samples")
        self._labels = None
        self._columns = math.ceil(math.sqrt(self.num_samples))
        if context.conditional:
            rows = min(context.num_classes, MAX_CLASS_ROWS)
            self._columns = math.ceil(self.num_samples / rows)
            z, _ = context.draw(self._columns, rng)  # (columns, latent_dim)
            self._z = z.repeat(rows, 1)  # row r: the columns' z at class r
            self._labels = torch.arange(rows).repeat_interleave(self._columns)  # (rows * columns,)
        else:
            self._z, _ = context.draw(self.num_samples, rng)  # (n, latent_dim)

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        self._images = generate(generator, self._z, self._labels).float().cpu()  # (n, C, H, W) in [-1, 1]
        return {}

    def _grid(self, path: Path) -> list[Artifact]:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(self._images, path, nrow=self._columns, normalize=True, value_range=(-1, 1))
        return [Image("val/samples", path)]

    def write(self, step: int) -> list[Artifact]:
        return self._grid(self.out_dir / "samples" / f"samples_{step:07d}.png")

    def finish(self, step: int) -> list[Artifact]:
        return self._grid(self.out_dir / "samples.png")
