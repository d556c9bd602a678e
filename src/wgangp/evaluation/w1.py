"""The toy problems' measure (Sec. 3, Fig. 1): exact W1 to the real distribution, value surfaces, the W1 curve."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from wgangp.evaluation.base import Artifact, Evaluator, Image, device_of, output_dir
from wgangp.evaluation.context import EvalContext
from wgangp.metrics.w1 import check_w1_size, wasserstein1
from wgangp.plots import save_curve, save_value_surface


class W1(Evaluator):
    """`val/w1`: the exact earth mover's distance (POT) between `num_points` generated points of a
    fixed z and `num_points` fixed real points, so the curve tracks the generator, not resampling.

    Files: `plots/value_surface_NNNNNNN.png` (critic contours with real and generated points, Fig. 1a
    style) at evaluations whose iteration is a multiple of `plot_every_n_iters`; at the end
    `value_surface.png` and `w1_curve.png`.
    """

    def __init__(
        self,
        out_dir: str | None = None,
        every_n_iters: int = 100,
        num_points: int = 1000,
        plot_every_n_iters: int = 1000,
        extent: float = 3.0,
        at_start: bool = False,
    ) -> None:
        super().__init__(every_n_iters, at_start)
        self.out_dir = Path(out_dir) if out_dir else None  # None: the run directory (context.out_dir)
        self.num_points = int(num_points)
        check_w1_size(self.num_points)
        self.plot_every_n_iters = int(plot_every_n_iters)
        self.extent = float(extent)
        self._real: torch.Tensor | None = None
        self._z: torch.Tensor | None = None
        self._critic: nn.Module | None = None
        self._fake: torch.Tensor | None = None

    def setup(self, datamodule, context: EvalContext) -> None:
        self.out_dir = output_dir(self.out_dir, context)
        self._real = datamodule.eval_samples(self.num_points, index=0)  # (n, 2)
        self._z = context.noise(self.num_points, context.rng("w1"))  # (n, latent_dim)

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        self._critic = critic
        self._fake = generator(self._z.to(device_of(generator))).float().cpu()  # (n, 2)
        return {"val/w1": wasserstein1(self._fake, self._real)}

    def _surface(self, path: Path, step: int) -> Path:
        critic = self._critic
        device = device_of(critic)
        return save_value_surface(
            path,
            lambda x: critic(x.to(device)).float().cpu(),
            self._real,
            self._fake,
            self.extent,
            title=f"generator iteration {step}",
        )

    def write(self, step: int) -> list[Artifact]:
        if self.plot_every_n_iters and step % self.plot_every_n_iters == 0:
            self._surface(self.out_dir / "plots" / f"value_surface_{step:07d}.png", step)
        return []

    def finish(self, step: int) -> list[Artifact]:
        surface = self._surface(self.out_dir / "value_surface.png", step)
        steps = [k for k, m in self.history if "val/w1" in m]
        values = [m["val/w1"] for _, m in self.history if "val/w1" in m]
        curve = save_curve(
            self.out_dir / "w1_curve.png", steps, values, f"W1 ({self.num_points} vs {self.num_points} points)"
        )
        return [Image("val/value_surface", surface), Image("val/w1_curve", curve)]

    def describe(self) -> dict:
        return {"w1_points": self.num_points}
