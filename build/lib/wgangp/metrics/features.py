"""Feature extractors for the sample-quality metrics, the image streams they score, and the cache path
of the real data's statistics (wgangp.evaluation.quality keeps them).

A feature extractor is any nn.Module with a `name` (str) that maps images (N, C, H, W) in [-1, 1] to
a dict with "pool" (N, D) features (FID, KID) and/or "logits" (N, K) (Inception Score). The real one
wraps torch-fidelity's InceptionV3 (the TF 2015-12-05 graph that IS and FID are defined with); tests
pass a small stand-in.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from wgangp.errors import MissingWeightsError

log = logging.getLogger("wgangp")

INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_FILENAME = "weights-inception-2015-12-05-6726825d.pth"


def default_inception_weights() -> Path:
    """Where torch-fidelity looks for the weights before downloading: torch hub's checkpoints folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILENAME


class InceptionFeatures(nn.Module):
    """InceptionV3 (torch-fidelity's port of the TF graph): 2048-d pool features and 1008 logits.

    Args:
        weights_path: a local copy of torch-fidelity's weights file; None looks in torch hub's cache
            (`default_inception_weights()`). Nothing is downloaded: a missing file is an error that
            names the URL to fetch and where to put it.
    """

    name = "inception-v3-compat"

    def __init__(self, weights_path: str | Path | None = None) -> None:
        super().__init__()
        path = Path(weights_path) if weights_path else default_inception_weights()
        if not path.is_file():
            raise MissingWeightsError(
                f"Inception weights not found at {path}. Download {INCEPTION_URL} and either save it as "
                f"{default_inception_weights()} or pass its path: "
                f"metrics.inception_weights=/path/to/{INCEPTION_FILENAME} (or set WGANGP_INCEPTION_WEIGHTS)."
            )
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        # "logits_unbiased" are the logits torch-fidelity (and the TF reference code) score IS with
        self.net = FeatureExtractorInceptionV3(
            self.name, ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
        )

    @torch.no_grad()
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """images (N, C, H, W) in [-1, 1], C = 1 or 3 -> {"pool": (N, 2048), "logits": (N, 1008)}."""
        if images.size(1) == 1:
            images = images.expand(-1, 3, -1, -1)  # grayscale (MNIST) as RGB
        # The TF graph takes 8-bit images; torch-fidelity resizes them to 299x299 itself.
        uint8 = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        pool, logits = self.net(uint8)
        return {"pool": pool.float(), "logits": logits.float()}


def chunked(draw: Callable[[int, int], Tensor], n: int, batch_size: int) -> Iterator[Tensor]:
    """draw(size, chunk_index) for consecutive chunks of at most batch_size, n samples in all."""
    for i, start in enumerate(range(0, n, batch_size)):
        yield draw(min(batch_size, n - start), i)


def real_images(datamodule, n: int, split: str, batch_size: int) -> Iterator[Tensor]:
    """n real images in batches from the data module's evaluation stream (`eval_samples(n, index)`).

    split "train" is the data module's own distribution; any other split is passed on as
    `eval_samples(n, index, split=...)` to data modules that hold several.
    """
    kwargs = {} if split == "train" else {"split": split}
    return chunked(lambda k, i: datamodule.eval_samples(k, index=i, **kwargs), n, batch_size)


def reference_stats_path(
    stats_dir: str | Path, data_config: dict | None, datamodule, split: str, extractor_name: str, num_real: int
) -> Path:
    """The cache file of one dataset's statistics: named by the data module class, split, extractor
    and sample count, plus a hash of the data config (minus loader settings), so a different root or
    resolution never reuses another's statistics."""
    loader_keys = {"batch_size", "num_workers", "seed", "batches_per_step", "dequantize"}  # see classifier.py
    identity = {k: v for k, v in (data_config or {}).items() if k not in loader_keys}
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
    name = f"{type(datamodule).__name__}-{split}-{extractor_name}-n{num_real}-{digest}.pt"
    return Path(stats_dir) / name
