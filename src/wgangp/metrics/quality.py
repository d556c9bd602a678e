"""Sample-quality metrics as pure functions of classifier outputs and features: no model, no I/O.

Inception Score (Salimans et al. 2016; the paper's Sec. 5.3, Fig. 3, Table 3), Frechet Inception
Distance (Heusel et al. 2017) and Kernel Inception Distance (Binkowski et al. 2018). The feature
extractor that produces the inputs lives in wgangp.metrics.features.
"""

from __future__ import annotations

import torch
from torch import Tensor


def inception_score(probs: Tensor, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) on each of `splits` equal chunks of `probs` (N, K); (mean, std).

    The paper reports mean +- std over 10 splits (Table 3), as Salimans et al.'s code does (numpy std,
    ddof=0). p(y) is estimated within each split. Rows must be probability vectors (softmax outputs).
    """
    probs = probs.double()
    n = probs.size(0)
    if splits < 1 or n < splits:
        raise ValueError(f"need at least one sample per split: {n} samples, {splits} splits")
    scores = []
    for chunk in probs.tensor_split(splits):  # sizes differ by at most 1 when N % splits != 0
        marginal = chunk.mean(0, keepdim=True)  # p(y), (1, K)
        # 0 * log 0 = 0: xlogy handles rows with exact zeros (one-hot predictions)
        kl = (torch.xlogy(chunk, chunk) - torch.xlogy(chunk, marginal)).sum(1)  # (n_split,)
        scores.append(kl.mean().exp())
    scores_t = torch.stack(scores)
    return float(scores_t.mean()), float(scores_t.std(unbiased=False))


def feature_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64; unbiased covariance (N - 1)."""
    f = features.double().flatten(1)
    if f.size(0) < 2:
        raise ValueError("need at least 2 feature vectors for a covariance")
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (f.size(0) - 1)


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)): the Frechet distance of two Gaussians.

    tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of S1 S2, which are real and
    non-negative for PSD S1, S2 (S1 S2 is similar to S1^(1/2) S2 S1^(1/2)); tiny negative or
    imaginary parts from round-off are dropped. Float64 throughout.
    """
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    eig = torch.linalg.eigvals(sigma1 @ sigma2).real.clamp_min(0.0)
    trace_sqrt = eig.sqrt().sum()
    value = (mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2.0 * trace_sqrt
    return float(value)


def fid_from_features(features1: Tensor, features2: Tensor) -> float:
    """FID between two feature sets (N1, D) and (N2, D): the Frechet distance of their Gaussian fits."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))


def polynomial_mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD^2 with KID's kernel k(a, b) = (a.b / D + 1)^3; x (m, D), y (n, D), m, n >= 2."""
    d = x.size(1)
    k_xx = (x @ x.T / d + 1).pow(3)
    k_yy = (y @ y.T / d + 1).pow(3)
    k_xy = (x @ y.T / d + 1).pow(3)
    m, n = x.size(0), y.size(0)
    # U-statistics: the diagonals k(x_i, x_i) are left out of the within-set terms
    xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return xx + yy - 2 * k_xy.mean()


def kid_from_features(
    features1: Tensor, features2: Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: unbiased polynomial-kernel MMD^2 averaged over `subsets` random subsets; (mean, std).

    features1 (N1, D), features2 (N2, D). Each subset draws min(subset_size, N1, N2) rows of each set
    without replacement, from a generator seeded by `seed`, so the value is reproducible. The
    estimator is unbiased, so it can be slightly negative when the distributions are equal.
    """
    x, y = features1.double().flatten(1), features2.double().flatten(1)
    size = min(subset_size, x.size(0), y.size(0))
    if size < 2:
        raise ValueError("KID needs at least 2 feature vectors in each set")
    rng = torch.Generator().manual_seed(seed)
    values = torch.stack([
        polynomial_mmd2_unbiased(
            x[torch.randperm(x.size(0), generator=rng)[:size]], y[torch.randperm(y.size(0), generator=rng)[:size]]
        )
        for _ in range(subsets)
    ])
    return float(values.mean()), float(values.std(unbiased=False))


def score_features(
    features: dict[str, Tensor], reference: dict[str, Tensor], splits: int = 10, kid_subsets: int = 100,
    kid_subset_size: int = 1000,
) -> dict[str, float]:
    """Every metric the inputs allow: IS from "logits" (N, K); FID and KID from "pool" (N, D) against
    the reference statistics {"mu", "sigma", "kid_features"} of the real data."""
    out: dict[str, float] = {}
    if "logits" in features:
        out["inception_score"], out["inception_score_std"] = inception_score(features["logits"].softmax(1), splits)
    if "pool" in features and reference:
        mu, sigma = feature_statistics(features["pool"])
        out["fid"] = frechet_distance(mu, sigma, reference["mu"], reference["sigma"])
        out["kid"], out["kid_std"] = kid_from_features(
            features["pool"], reference["kid_features"], subsets=kid_subsets, subset_size=kid_subset_size
        )
    return out
