"""Improved precision and recall (Kynkaanniemi et al. 2019) in the image metrics' feature space."""

from __future__ import annotations

from torch import Tensor

from wgangp.evaluation.features import FeatureSetEvaluator
from wgangp.metrics.manifold import precision_recall


class PrecisionRecall(FeatureSetEvaluator):
    """`val/precision`: the fraction of `num_samples` generated images whose features lie inside the real
    manifold (the union of the closed balls reaching each of `num_real` real features' k-th nearest real
    neighbour, k = `num_neighbours`, 3 as in the paper); `val/recall`: the fraction of real features inside
    the generated manifold. Precision falls with samples unlike any real image, recall with modes the
    generator misses. Features of the `metrics` extractor (Inception pool, or metrics=classifier's); the
    generated images and the cached real features are those of IS/FID/KID (wgangp.evaluation.features)."""

    name = "precision_recall"
    paper_k = 3
    what = "precision/recall"

    def score(self, real: Tensor, fake: Tensor) -> dict[str, float]:
        precision, recall = precision_recall(real, fake, self.num_neighbours)
        return {"val/precision": precision, "val/recall": recall}
