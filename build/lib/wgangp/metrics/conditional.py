"""Numbers for conditional and structured-latent generators: conditional accuracy, per-class FID, and
the purity of an InfoGAN categorical code against a classifier's classes."""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg
from scipy.optimize import linear_sum_assignment
from torch import Tensor


def gaussian_fit(features: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) of features (N, D), in float64 (ddof=1, as FID)."""
    x = features.double().cpu().numpy()
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two Gaussian fits (Heusel et al. 2017)."""
    (mu_a, s_a), (mu_b, s_b) = a, b
    covmean, _ = linalg.sqrtm(s_a @ s_b, disp=False)
    if not np.isfinite(covmean).all():  # near-singular product: regularise, as the reference implementation
        offset = np.eye(len(s_a)) * 1e-6
        covmean = linalg.sqrtm((s_a + offset) @ (s_b + offset))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def confusion(rows: Tensor, cols: Tensor, num_rows: int, num_cols: int) -> Tensor:
    """counts[i, j] = #{n: rows[n] = i and cols[n] = j}, int64 (num_rows, num_cols)."""
    return torch.bincount(rows * num_cols + cols, minlength=num_rows * num_cols).view(num_rows, num_cols)


def code_purity(code: Tensor, predicted_class: Tensor, num_values: int, num_classes: int) -> float:
    """The fraction of samples whose categorical code value maps to their predicted class under the best
    one-to-one matching of code values to classes (Hungarian algorithm); 1 - this is InfoGAN's
    "classification error" on MNIST (5% in Chen et al. 2016)."""
    counts = confusion(code.long().cpu(), predicted_class.long().cpu(), num_values, num_classes).numpy()
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / max(1, counts.sum()))
