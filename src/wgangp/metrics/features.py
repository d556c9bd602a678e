"""Feature extractors for the sample-quality metrics, the image streams they score, and the cache path
of the real data's statistics (wgangp.evaluation.quality keeps them).

A feature extractor is any nn.Module with a `name` (str) that maps images (N, C, H, W) in [-1, 1] to
a dict with "pool" (N, D) features (FID, KID) and/or "logits" (N, K) (Inception Score). The real one
wraps torch-fidelity's InceptionV3 (the TF 2015-12-05 graph that IS and FID are defined with);
wgangp.metrics.dinov2 and wgangp.metrics.clip wrap torch-fidelity's DINOv2 and CLIP extractors (pool only);
tests pass a small stand-in.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from wgangp.data.finite import DecodeSource, TensorSource
from wgangp.errors import MissingWeightsError, UserInputError

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
        path = require_weights(
            weights_path, default_inception_weights(), "Inception", INCEPTION_URL, "inception_weights",
            "WGANGP_INCEPTION_WEIGHTS",
        )  # fmt: skip
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        # "logits_unbiased" are the logits torch-fidelity (and the TF reference code) score IS with
        self.net = FeatureExtractorInceptionV3(
            self.name, ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
        )

    @torch.no_grad()
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """images (N, C, H, W) in [-1, 1], C = 1 or 3 -> {"pool": (N, 2048), "logits": (N, 1008)}."""
        # The TF graph takes 8-bit images; torch-fidelity resizes them to 299x299 itself.
        pool, logits = self.net(uint8_rgb(images))
        return {"pool": pool.float(), "logits": logits.float()}


def uint8_rgb(images: Tensor) -> Tensor:
    """Images (N, C, H, W) in [-1, 1], C = 1 or 3 -> uint8 (N, 3, H, W) in [0, 255], what torch-fidelity's
    extractors take: grayscale (MNIST) repeated as RGB, -1 -> 0, 0 -> 128 (127.5 rounded), 1 -> 255."""
    if images.size(1) == 1:
        images = images.expand(-1, 3, -1, -1)
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def require_weights(
    weights_path: str | Path | None,
    default: Path,
    what: str,
    url: str,
    option: str,
    env: str,
    stops_training: bool = False,
) -> Path:
    """The weights file an extractor loads: `weights_path`, or `default` (where torch hub keeps it) when None. A
    file that is not there is a MissingWeightsError, one paragraph: which file to download, where to save it, or
    how to point at it (`metrics.<option>=`, `$<env>`). `stops_training`: a feature space chosen for itself
    (metrics=dinov2, clip) stops a training run before its first step, where Inception's (the default of every
    image run) only turns its scores off."""
    path = Path(weights_path) if weights_path else default
    if path.is_file():
        return path
    error = MissingWeightsError(
        f"{what} weights not found at {path}; nothing is downloaded here. Download {url} and either save it as "
        f"{default} or pass its path: metrics.{option}=/path/to/{Path(url).name} (or set {env})."
        + (
            " The run asked for this feature space (metrics=...), so it stops before training."
            if stops_training
            else ""
        )
    )
    error.stops_training = stops_training
    raise error


def chunked(draw: Callable[[int, int], Tensor], n: int, batch_size: int) -> Iterator[Tensor]:
    """draw(size, chunk_index) for consecutive chunks of at most batch_size, n samples in all."""
    for i, start in enumerate(range(0, n, batch_size)):
        yield draw(min(batch_size, n - start), i)


def real_images(
    datamodule, n: int, split: str, batch_size: int, whole: bool = False, distinct: bool = False
) -> Iterator[Tensor]:
    """n real images in batches from the data module's evaluation stream (`eval_samples(n, index)`).

    split "train" is the data module's own distribution; any other split is passed on as
    `eval_samples(n, index, split=...)` to data modules that hold several. The stream draws with
    replacement (a draw of the 50,000 CIFAR-10 training images holds about 31,600 distinct ones);
    `whole` instead reads every image of the split once, in order (n = split_size(datamodule, split)):
    the "full" reference sets of conf/protocol/. `distinct`: n different images of a finite split (the first n of
    a fixed permutation, seed 0), for the k-NN measures, whose radii shrink between duplicates of one image.
    """
    if distinct:
        source = split_source(datamodule, split)
        rows = torch.randperm(len(source), generator=torch.Generator().manual_seed(0))[:n]
        return chunked(lambda k, i: split_gather(source, rows[i * batch_size : i * batch_size + k]), n, batch_size)
    if whole:
        source = split_source(datamodule, split)
        return chunked(lambda k, i: split_rows(source, i * batch_size, i * batch_size + k), n, batch_size)
    kwargs = {} if split == "train" else {"split": split}
    return chunked(lambda k, i: datamodule.eval_samples(k, index=i, **kwargs), n, batch_size)


def split_source(datamodule, split: str):
    """The data module's source of `split`: "train" its training data (the subset, where the run trained on one),
    "val" its held-out split (CIFAR-10's test_batch, MNIST's t10k, ...)."""
    return datamodule.source if split == "train" else datamodule.val_source


def finite_split(datamodule, split: str) -> bool:
    """Whether `split` is a finite set of images that can be read by row (not a stream)."""
    source = getattr(datamodule, "source" if split == "train" else "val_source", None)
    return isinstance(source, (TensorSource, DecodeSource))


def split_size(datamodule, split: str) -> int:
    """How many images `split` holds; a UserInputError for data streamed without a fixed size."""
    source = split_source(datamodule, split)
    if not isinstance(source, (TensorSource, DecodeSource)):
        raise UserInputError(
            f"all of {type(datamodule).__name__}'s {split} split was asked for (num_real=null), but it is not a "
            "finite set of images this evaluation can read in order; give a number of real images (num_real=N)."
        )
    return len(source)


def split_rows(source, start: int, stop: int) -> Tensor:
    """Images start..stop-1 of a finite image source in its order, (stop - start, C, H, W) float in [-1, 1]."""
    return split_gather(source, torch.arange(start, stop))


def split_gather(source, rows: Tensor) -> Tensor:
    """The images at `rows` of a finite image source, (len(rows), C, H, W) float in [-1, 1]."""
    if isinstance(source, TensorSource):
        return source.gather(rows)["real"]
    return source.decode(torch.stack([source.dataset[int(i)][0] for i in rows]))  # DecodeSource


def reference_stats_path(
    stats_dir: str | Path,
    data_config: dict | None,
    datamodule,
    split: str,
    extractor_name: str,
    num_real: int,
    whole: bool | str = False,
) -> Path:
    """The cache file of one dataset's statistics: named by the data module class, split, extractor
    and sample count ("all<N>" for the whole split read once, "distinct<N>" for N different images (whole=
    "distinct"), "n<N>" for N draws), plus a hash of the data
    config (minus loader settings), so a different root or resolution never reuses another's statistics."""
    loader_keys = {"batch_size", "num_workers", "seed", "batches_per_step", "dequantize"}  # see classifier.py
    identity = {k: v for k, v in (data_config or {}).items() if k not in loader_keys}
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
    count = f"all{num_real}" if whole is True else f"distinct{num_real}" if whole == "distinct" else f"n{num_real}"
    name = f"{type(datamodule).__name__}-{split}-{extractor_name}-{count}-{digest}.pt"
    return Path(stats_dir) / name
