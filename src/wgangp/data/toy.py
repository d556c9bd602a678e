"""The 2-d toy distributions of Sec. 3 / Fig. 1-2, with the scales and noise of the paper's released
gan_toy.py: points are drawn fresh for every batch (an unbounded stream)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from wgangp.data.base import GANDataModule


class EightGaussians:
    """Eight Gaussians (std 0.02) at radius 2 on the compass directions, all divided by 1.414."""

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        angles = torch.arange(8) * (math.pi / 4)
        centres = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
        which = torch.randint(0, 8, (n,), generator=generator)
        points = centres[which] + 0.02 * torch.randn(n, 2, generator=generator)
        return {"real": points / 1.414}


class TwentyFiveGaussians:
    """A 5x5 grid of Gaussians (std 0.05) at {-4, -2, 0, 2, 4}^2, all divided by 2.828."""

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        grid = torch.arange(-2, 3, dtype=torch.float32) * 2
        centres = torch.cartesian_prod(grid, grid)
        which = torch.randint(0, 25, (n,), generator=generator)
        points = centres[which] + 0.05 * torch.randn(n, 2, generator=generator)
        return {"real": points / 2.828}


class SwissRoll:
    """scikit-learn's make_swiss_roll(noise=0.25), its (x, z) plane, divided by 7.5."""

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
        points = torch.stack([t * t.cos(), t * t.sin()], dim=1) + 0.25 * torch.randn(n, 2, generator=generator)
        return {"real": points / 7.5}


class ToyDataModule(GANDataModule):
    """A toy distribution as a data module: `data=8gaussians|25gaussians|swissroll`."""

    data_shape = (2,)

    def __init__(self, distribution, batch_size: int = 256, **kwargs) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.distribution = distribution

    def load(self, split: str):
        # An unbounded distribution: fresh draws never seen in training serve as held-out data.
        return self.distribution
