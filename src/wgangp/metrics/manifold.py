"""Fidelity and diversity of generated samples as point sets in a feature space, from k-nearest-neighbour balls.

Each point x of a set gets the ball B(x, NND_k(x)), NND_k(x) being its distance to its k-th nearest other
point of the same set.

- Improved precision and recall (Kynkaanniemi et al. 2019, k = 3): a set's manifold is the union of its
  balls. Precision: the fraction of generated points inside the real manifold; recall: the fraction of real
  points inside the generated manifold. Closed balls (<=), as the authors' code and torch-fidelity.
- Density and coverage (Naeem et al. 2020, k = 5), from the real balls alone, for N real points X_i and M
  generated points Y_j: density = (1/(kM)) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))] (about 1 when both sets
  come from one distribution, above 1 where generated points crowd the real ones, robust to real outliers),
  coverage = (1/N) sum_i 1[some Y_j in B(X_i, NND_k(X_i))]. Open balls (<), as the authors' code.

Distances are taken `chunk` rows at a time (torch.cdist, on the inputs' device and dtype), so two sets of
10,000 or 50,000 points never hold an N x M matrix: a block is chunk x M.
"""

from __future__ import annotations

import torch
from torch import Tensor

CHUNK = 1024  # rows per block of distances: 1024 x 10,000 float32 is 40 MB


def knn_radii(x: Tensor, k: int, chunk: int = CHUNK) -> Tensor:
    """NND_k of every row of x (n, d): its distance to its k-th nearest other row, (n,). Needs n > k."""
    if not 1 <= k < len(x):
        raise ValueError(f"the k-th nearest neighbour needs 1 <= k < {len(x)} points, got k={k}")
    # the smallest distance of a row is its own (0): the k-th neighbour is the (k+1)-th smallest
    return torch.cat([torch.cdist(block, x).kthvalue(k + 1, dim=1).values for block in x.split(chunk)])


def precision_recall(real: Tensor, fake: Tensor, k: int = 3, chunk: int = CHUNK) -> tuple[float, float]:
    """(precision, recall) of generated features `fake` (n, d) against real features `real` (m, d), each set's
    manifold the union of its closed k-NN balls (Kynkaanniemi et al. 2019)."""
    real_radii, fake_radii = knn_radii(real, k, chunk), knn_radii(fake, k, chunk)  # (m,), (n,)
    precise = torch.zeros(len(fake), dtype=torch.bool, device=fake.device)  # fake j in some real ball
    recalled = []  # real i in some fake ball
    for block, radii in zip(real.split(chunk), real_radii.split(chunk), strict=True):
        d = torch.cdist(block, fake)  # (b, n): one pass over the real x fake distances serves both
        precise |= (d <= radii[:, None]).any(0)
        recalled.append((d <= fake_radii).any(1))
    return float(precise.double().mean()), float(torch.cat(recalled).double().mean())


def density_coverage(real: Tensor, fake: Tensor, k: int = 5, chunk: int = CHUNK) -> tuple[float, float]:
    """(density, coverage) of generated features `fake` (M, d) against real features `real` (N, d), from the open
    k-NN balls of the real points (Naeem et al. 2020)."""
    radii = knn_radii(real, k, chunk)  # (N,)
    inside, covered = 0, []
    for block, r in zip(real.split(chunk), radii.split(chunk), strict=True):
        within = torch.cdist(block, fake) < r[:, None]  # (b, M): fake j in real i's ball
        inside += int(within.sum())
        covered.append(within.any(1))
    return inside / (k * len(fake)), float(torch.cat(covered).double().mean())
