"""Exact Wasserstein-1 (earth mover's) distance between two point sets, by POT's network simplex."""

from __future__ import annotations

import numpy as np
import ot
import torch


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
