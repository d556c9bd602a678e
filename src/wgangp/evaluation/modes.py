"""The toy mixtures' mode-collapse measure beside W1: `val/modes` and `val/high_quality` (wgangp.metrics.modes)."""

from __future__ import annotations

import torch
from torch import nn

from wgangp.evaluation.base import Evaluator, device_of
from wgangp.evaluation.context import EvalContext
from wgangp.metrics.modes import mode_coverage


class ModeCoverage(Evaluator):
    """`val/modes`: modes with at least `min_count` of `num_samples` generated points within `n_std` standard
    deviations of their centre; `val/high_quality`: the fraction of points within `n_std` standard deviations
    of their nearest centre (Unrolled GAN, VEEGAN, PacGAN). z is fixed (EVAL stream index 4), so the values
    follow the generator, not resampling. The mixture's `centres` (k, 2) and `std` come from the data
    module's distribution (wgangp.data.toy.EightGaussians, TwentyFiveGaussians).
    """

    def __init__(
        self, every_n_iters: int = 100, num_samples: int = 2500, min_count: int = 20, n_std: float = 3.0
    ) -> None:
        super().__init__(every_n_iters)
        self.num_samples = int(num_samples)
        self.min_count = int(min_count)
        self.n_std = float(n_std)
        self._z: torch.Tensor | None = None

    def setup(self, datamodule, context: EvalContext) -> None:
        distribution = datamodule.distribution
        if not hasattr(distribution, "centres"):
            raise ValueError(
                f"the modes evaluator needs a mixture with known mode centres (8gaussians, 25gaussians); "
                f"{type(distribution).__name__} has none: drop it with evaluators.modes=null"
            )
        self.centres, self.std = distribution.centres, float(distribution.std)  # (k, 2), data units
        self._z = context.noise(self.num_samples, context.rng("modes"))  # (n, latent_dim)

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        fake = generator(self._z.to(device_of(generator))).float().cpu()  # (n, 2)
        modes, high_quality = mode_coverage(fake, self.centres, self.std, self.min_count, self.n_std)
        return {"val/modes": float(modes), "val/high_quality": high_quality}

    def describe(self) -> dict:  # prefixed: the W1 evaluator's num_samples sits beside it in src/eval.py's JSON
        return {"modes_num_samples": self.num_samples, "modes_min_count": self.min_count, "modes_n_std": self.n_std}
