"""Two concentric rings of points, radii 1 and 2 (noise std 0.05): a data set of the user's own, for wgangp's toy
data module. The worked example of adding a data set (docs/architecture.md)."""

import math

import torch
from torch import Tensor


class Rings:
    """An unbounded stream of 2-d points: a random angle, a random ring, Gaussian noise."""

    radii = (1.0, 2.0)

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        angle = 2 * math.pi * torch.rand(n, generator=generator)
        radius = torch.tensor(self.radii)[torch.randint(0, len(self.radii), (n,), generator=generator)]
        points = radius.unsqueeze(1) * torch.stack([angle.cos(), angle.sin()], dim=1)
        return {"real": points + 0.05 * torch.randn(n, 2, generator=generator)}
