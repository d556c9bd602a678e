"""Density and coverage (Naeem et al. 2020) in the image metrics' feature space."""

from __future__ import annotations

from torch import Tensor

from wgangp.evaluation.features import FeatureSetEvaluator
from wgangp.metrics.manifold import density_coverage


class DensityCoverage(FeatureSetEvaluator):
    """`val/density`: how many real k-NN balls (each real feature's open ball reaching its k-th nearest real
    neighbour, k = `num_neighbours`, 5 as in the paper) hold a generated feature, on average, divided by k:
    about 1 when generated and real images come from one distribution, lower for samples off the real data,
    higher where samples crowd a few real images; unlike precision, one real outlier's large ball barely
    moves it. `val/coverage`: the fraction of real balls holding at least one of `num_samples` generated
    features (recall's counterpart, from the real balls only). Features of the `metrics` extractor; the
    generated images and the cached real features are those of IS/FID/KID (wgangp.evaluation.features)."""

    name = "density_coverage"
    paper_k = 5
    what = "density/coverage"

    def score(self, real: Tensor, fake: Tensor) -> dict[str, float]:
        density, coverage = density_coverage(real, fake, self.num_neighbours)
        return {"val/density": density, "val/coverage": coverage}
