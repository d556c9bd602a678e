"""Mode collapse on the Gaussian mixtures: modes covered and the fraction of high-quality samples.

The measure of the Unrolled GAN (Metz et al. 2017), VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al.
2018) papers on the 8-Gaussians ring and the 25-Gaussians grid: a generated point is *high quality* when it
lies within 3 standard deviations of its nearest mode centre; a mode is *covered* when at least
`min_count` high-quality points fall on it. PacGAN's protocol: 2500 samples, a mode with fewer than 20
is lost (20 is a fifth of the 100 points each of 25 modes would receive).
"""

from __future__ import annotations

import torch
from torch import Tensor


def mode_coverage(
    points: Tensor, centres: Tensor, std: float, min_count: int = 20, n_std: float = 3.0
) -> tuple[int, float]:
    """(modes covered, fraction of high-quality points) of `points` (n, d) for modes at `centres` (k, d),
    each an isotropic Gaussian of standard deviation `std`."""
    points, centres = points.detach().double().cpu(), centres.double().cpu()
    dist = torch.cdist(points, centres)  # (n, k)
    nearest_dist, nearest = dist.min(dim=1)  # (n,)
    good = nearest_dist <= n_std * std  # (n,): high quality
    counts = torch.bincount(nearest[good], minlength=centres.size(0))  # (k,) high-quality points per mode
    return int((counts >= min_count).sum()), float(good.double().mean())
