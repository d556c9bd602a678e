"""The feature space the image metrics share: the `metrics` group's extractor (Inception, or metrics=classifier's
classifier), the real data's features, computed once per data set and cached, and generated images' features.

IS/FID/KID (wgangp.evaluation.quality) derive their real statistics from the cached real features, and the
evaluators that compare feature sets point by point (precision/recall, density/coverage) read the same
file, so the real images go through the extractor once per data set, split, extractor and sample count.
`FeatureSetEvaluator` is the common body of the point-set evaluators: each one only says what it computes
from the real and generated features.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from wgangp.errors import MissingWeightsError
from wgangp.evaluation.base import Evaluator
from wgangp.evaluation.context import EvalContext, generate
from wgangp.files import replacing
from wgangp.metrics.features import finite_split, real_images, reference_stats_path, split_size

log = logging.getLogger("wgangp")


def build_extractor(make_extractor: Callable[[], nn.Module], strict: bool, what: str) -> nn.Module | None:
    """The extractor in eval mode; without its weights (metrics=inception, no file) an error when `strict`
    (src/eval.py) or when the feature space was chosen for itself (metrics=dinov2, clip: the error's
    stops_training), else None after one warning that `what` are off and where to put the weights."""
    try:
        return make_extractor().eval()
    except MissingWeightsError as e:
        if strict or getattr(e, "stops_training", False):
            raise
        log.warning("%s are off: %s", what, e)
        return None


def real_features_path(stats_path: Path) -> Path:
    """The real features' cache beside the statistics file `stats_path` (reference_stats_path):
    `<stats_dir>/features/<the same name>`, keyed like it by data set, split, extractor and sample count."""
    return stats_path.parent / "features" / stats_path.name


@torch.no_grad()
def real_features(
    extractor: nn.Module,
    datamodule,
    path: Path,
    num_real: int,
    split: str,
    batch_size: int,
    device: torch.device,
    write: bool = True,
    whole: bool = False,
    distinct: bool = False,
) -> Tensor:
    """The extractor's "pool" features of `num_real` real images (wgangp.metrics.features.real_images, in
    chunks of `batch_size`; `whole`: every image of the split once; `distinct`: num_real different ones),
    (num_real, D) on the CPU in the extractor's dtype: read from `path`, or computed once and written there (when
    `write`: rank 0 under DDP) for every later run and evaluator."""
    if path.is_file():
        cached = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(cached, Tensor) and cached.dim() == 2 and len(cached) == num_real:
            return cached
    log.info("computing the real data's features once: %s", path)
    extractor.to(device)
    pool = torch.cat(
        [
            extractor(images.to(device))["pool"].flatten(1).cpu()  # (k, D)
            for images in real_images(datamodule, num_real, split, batch_size, whole=whole, distinct=distinct)
        ]
    )
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp:  # two runs computing the same features never see half a file
            torch.save(pool, tmp)
    return pool


@torch.no_grad()
def generated_features(
    extractor: nn.Module, generator: nn.Module, context: EvalContext, rng: torch.Generator, n: int, batch_size: int
) -> Tensor:
    """The extractor's "pool" features of `n` generated images, (n, D) float32 on the CPU. Inputs come from
    `rng` through `context.draw` one chunk of `batch_size` at a time (z, then labels for a class-conditional
    generator), as ImageQuality draws them: from the same stream, the same images."""
    extractor.to(context.device)
    chunks = []
    for start in range(0, n, batch_size):
        z, labels = context.draw(min(batch_size, n - start), rng)
        chunks.append(extractor(generate(generator, z, labels))["pool"].flatten(1).float().cpu())
    return torch.cat(chunks)


class FeatureSetEvaluator(Evaluator):
    """An evaluator that compares `num_samples` generated images with `num_real` real ones as point sets in the
    `metrics` extractor's feature space (precision/recall, density/coverage): subclasses implement `score`.

    The generated images are those ImageQuality scores (EVAL stream "quality" of the context's seed, the z of
    wgangp.sample(ckpt, n, seed)); the real features come from the cache the IS/FID/KID statistics are built
    from (same `stats_dir`, `num_real`, `split` and `batch_size`: one pass of the extractor over the real
    images serves all of them). Distances are taken on the context's device.

    Args:
        extractor: builds the feature extractor (the `metrics` group's), called in `setup`.
        stats_dir: the cache directory of the real data's statistics (metrics.stats_dir).
        num_real: real images; None: every image of `split` once (the "full" reference sets of conf/protocol/).
        num_neighbours: k of the k-nearest-neighbour balls; None: the subclass's `paper_k`.
        split: which real data ("train": the data module's own distribution).
        strict: a missing extractor (no Inception weights) is an error (src/eval.py); otherwise the scores are
            off with one warning, and training goes on.
    """

    #: the prefix of its settings in src/eval.py's JSON, e.g. "precision_recall"
    name = "feature_set"
    #: what the warning says is off when the extractor is missing, e.g. "precision/recall"
    what = "feature-set metrics"
    #: k of the paper that defines the metric
    paper_k = 3

    def __init__(
        self,
        extractor: Callable[[], nn.Module],
        stats_dir: str,
        every_n_iters: int = 5000,
        num_samples: int = 5000,
        num_real: int | None = 10000,
        num_neighbours: int | None = None,
        split: str = "train",
        batch_size: int = 250,
        strict: bool = False,
        at_start: bool = False,
    ) -> None:
        super().__init__(every_n_iters, at_start)
        self.make_extractor = extractor
        self.stats_dir = Path(stats_dir)
        self.num_neighbours = int(self.paper_k if num_neighbours is None else num_neighbours)
        self.num_samples = int(num_samples)
        self.whole = num_real is None  # the whole split: its size is known in setup
        self.num_real = 0 if self.whole else int(num_real)
        self.split, self.batch_size, self.strict = split, int(batch_size), bool(strict)
        if not self.whole:
            self._check_sizes()
        self.extractor: nn.Module | None = None
        self.features_path: Path | None = None
        self._real: Tensor | None = None
        self._extractor_name = ""

    def _check_sizes(self) -> None:
        if min(self.num_samples, self.num_real) <= self.num_neighbours:
            raise ValueError(
                f"{type(self).__name__} needs more than num_neighbours={self.num_neighbours} points in each set to "
                f"find their k-th nearest neighbours, got num_samples={self.num_samples} and "
                f"num_real={self.num_real}: raise them or lower num_neighbours"
            )

    def setup(self, datamodule, context: EvalContext) -> None:
        self._datamodule, self._context = datamodule, context
        if self.whole:
            self.num_real = split_size(datamodule, self.split)
            self._check_sizes()
        # The k-NN radii shrink between duplicates of one image, biasing every measure low: draw the reals without
        # replacement where the split is a finite set (all of it when num_real covers it).
        self.distinct = not self.whole and finite_split(datamodule, self.split)
        if self.distinct:
            self.num_real = min(self.num_real, split_size(datamodule, self.split))
            if self.num_real <= self.num_neighbours:  # a split this small has no k-th nearest neighbours to measure
                log.warning(
                    "%s are off: the %s split holds %d images, not more than num_neighbours=%d",
                    self.what, self.split, self.num_real, self.num_neighbours,
                )  # fmt: skip
                return
        self.extractor = build_extractor(self.make_extractor, self.strict, self.what)  # now, not hours in
        if self.extractor is None:
            return
        self._extractor_name = self.extractor.name
        stats = reference_stats_path(
            self.stats_dir,
            context.run_config.get("data"),
            datamodule,
            self.split,
            self._extractor_name,
            self.num_real,
            "distinct" if self.distinct else self.whole,
        )
        self.features_path = real_features_path(stats)

    def score(self, real: Tensor, fake: Tensor) -> dict[str, float]:
        """Metrics `val/...` of real features (M, D) and generated features (N, D), both on the context's device."""
        raise NotImplementedError

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        if self.extractor is None:
            return {}
        device = self._context.device
        if self._real is None:
            self._real = real_features(
                self.extractor,
                self._datamodule,
                self.features_path,
                self.num_real,
                self.split,
                self.batch_size,
                device,
                whole=self.whole,
                distinct=self.distinct,
            ).float()
        rng = self._context.rng("quality")  # ImageQuality's images (wgangp.rng.EVAL_STREAMS)
        fake = generated_features(self.extractor, generator, self._context, rng, self.num_samples, self.batch_size)
        return self.score(self._real.to(device), fake.to(device))

    def describe(self) -> dict[str, Any]:  # the quality evaluator's num_samples and extractor sit beside these
        if self.extractor is None:
            return {}
        return {
            f"{self.name}_num_samples": self.num_samples,
            f"{self.name}_num_real": self.num_real,
            f"{self.name}_num_neighbours": self.num_neighbours,
            f"{self.name}_features_path": str(self.features_path),
        }
