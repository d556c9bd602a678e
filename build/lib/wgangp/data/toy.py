"""The 2-d toy distributions of Sec. 3 / Fig. 1-2, with the scales and noise of the paper's released
gan_toy.py: points are drawn fresh for every batch (an unbounded stream)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from wgangp.data.base import GANDataModule


class EightGaussians:
    """Eight Gaussians (std 0.02) at radius 2 on the compass directions, all divided by 1.414.

    `centres` (8, 2) and `std` are in the data's units (after the division), for the mode measure
    (wgangp.metrics.modes)."""

    scale = 1.414
    std = 0.02 / scale

    @staticmethod
    def _ring() -> Tensor:
        angles = torch.arange(8) * (math.pi / 4)
        return 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)  # (8, 2) before scaling

    @property
    def centres(self) -> Tensor:
        return self._ring() / self.scale

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        centres = self._ring()
        which = torch.randint(0, 8, (n,), generator=generator)
        points = centres[which] + 0.02 * torch.randn(n, 2, generator=generator)
        return {"real": points / self.scale}


class TwentyFiveGaussians:
    """A 5x5 grid of Gaussians (std 0.05) at {-4, -2, 0, 2, 4}^2, all divided by 2.828.

    `centres` (25, 2) and `std` are in the data's units (after the division), for the mode measure."""

    scale = 2.828
    std = 0.05 / scale

    @staticmethod
    def _grid() -> Tensor:
        grid = torch.arange(-2, 3, dtype=torch.float32) * 2
        return torch.cartesian_prod(grid, grid)  # (25, 2) before scaling

    @property
    def centres(self) -> Tensor:
        return self._grid() / self.scale

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        centres = self._grid()
        which = torch.randint(0, 25, (n,), generator=generator)
        points = centres[which] + 0.05 * torch.randn(n, 2, generator=generator)
        return {"real": points / self.scale}


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
