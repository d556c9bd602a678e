"""Exact Wasserstein-1 (earth mover's) distance between two point sets, by POT's network simplex."""

from __future__ import annotations

import numpy as np
import ot
import torch

from wgangp.errors import UserInputError
from wgangp.host import host_free_memory

# Bytes per entry of the n x n problem: the float64 cost matrix, and POT's network simplex keeps about as much
# again (its flow and the arcs' costs).
BYTES_PER_PAIR = 24


def check_w1_size(num_points: int) -> None:
    """Refuse an exact W1 between two sets of `num_points` whose linear program cannot fit in the free memory
    (wgangp.host): 1,000,000 points would ask for about 24 TB. 2000 points take 96 MB and seconds."""
    need = BYTES_PER_PAIR * num_points**2
    free, source = host_free_memory()
    if need > free:
        fits = int((free / BYTES_PER_PAIR) ** 0.5)
        raise UserInputError(
            f"an exact W1 between two sets of {num_points} points needs about {need / 1e9:.3g} GB for its "
            f"{num_points}x{num_points} linear program, but {free / 1e9:.3g} GB is free ({source}); use at most "
            f"{fits} points "
            "(src/eval.py w1_points=..., evaluators.w1.num_points=...); the exact LP's time also grows as n^3."
        )


def wasserstein1(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """W1 between the empirical distributions of x (n, d) and y (k, d), Euclidean ground cost.

    Exact (a linear program, not a Sinkhorn approximation); O(n^3) worst case in the number of
    points.
    """
    x = np.asarray(torch.as_tensor(x).detach().cpu().double().flatten(1))
    y = np.asarray(torch.as_tensor(y).detach().cpu().double().flatten(1))
    cost = ot.dist(x, y, metric="euclidean")
    a = np.full(len(x), 1.0 / len(x))
    b = np.full(len(y), 1.0 / len(y))
    return float(ot.emd2(a, b, cost, numItermax=10_000_000))
