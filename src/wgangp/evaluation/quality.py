"""Sample quality on image data (Sec. 5.3, Fig. 3, Table 3): Inception Score, FID and KID."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from wgangp.evaluation.base import Evaluator
from wgangp.evaluation.context import EvalContext, generate
from wgangp.evaluation.features import build_extractor, real_features, real_features_path
from wgangp.files import replacing
from wgangp.metrics.features import reference_stats_path, split_size
from wgangp.metrics.quality import QualityScores

log = logging.getLogger("wgangp")


def _rank_and_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)


class ImageQuality(Evaluator):
    """`val/inception_score`, `val/inception_score_std` (10 splits, as the paper reports IS), `val/fid`,
    `val/kid` and `val/kid_std` of `num_samples` generated images (the fixed z of
    `wgangp.sample(ckpt, n, seed)`), through torchmetrics (wgangp.metrics.quality).

    The real data's statistics (`num_real` images from the data module's evaluation stream: FID's
    sums and KID's first `kid_subset_size` features) are computed once per dataset, split and
    extractor and cached under `stats_dir`, from the real features cached under `stats_dir/features/`
    (wgangp.evaluation.features), which precision/recall and density/coverage read too. Under DDP every
    rank scores its share of the generated images and torchmetrics gathers the states, so all ranks get
    the numbers one process would.

    Args:
        extractor: builds the feature extractor (wgangp.metrics.features.InceptionFeatures,
            wgangp.metrics.classifier.ClassifierFeatures, ...), called in `setup`.
        stats_dir: cache directory of the real data's statistics.
        num_real: real images behind FID and KID; None: every image of `split` once (the "full" reference sets of
            conf/protocol/); 0: none, so IS alone (conf/protocol/is50k.yaml).
        split: which real data the statistics describe ("train": the data module's own distribution).
        strict: a missing extractor (no Inception weights) is an error (src/eval.py); otherwise the
            scores are off with one warning that says where to put the weights, and training goes on.
    """

    all_ranks = True

    def __init__(
        self,
        extractor: Callable[[], nn.Module],
        stats_dir: str,
        every_n_iters: int = 5000,
        num_samples: int = 5000,
        num_real: int | None = 10000,
        split: str = "train",
        splits: int = 10,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        batch_size: int = 250,
        strict: bool = False,
        at_start: bool = False,
    ) -> None:
        super().__init__(every_n_iters, at_start)
        self.make_extractor = extractor
        self.stats_dir = Path(stats_dir)
        self.num_samples = int(num_samples)
        self.whole = num_real is None  # the whole split: its size is known in setup
        self.num_real = 0 if self.whole else int(num_real)
        self.split = split
        self.splits = int(splits)
        self.kid_subsets = int(kid_subsets)
        self.kid_subset_size = int(kid_subset_size)
        self.batch_size = int(batch_size)
        self.strict = bool(strict)
        self.scores: QualityScores | None = None
        self.stats_path: Path | None = None
        self._extractor_name = ""
        self._real_loaded = False

    def setup(self, datamodule, context: EvalContext) -> None:
        self._datamodule, self._context = datamodule, context
        if self.whole:
            self.num_real = split_size(datamodule, self.split)
        extractor = build_extractor(self.make_extractor, self.strict, "IS/FID/KID")  # now, not hours in
        if extractor is None:
            return
        self._extractor, self._extractor_name = extractor, extractor.name
        _, world = _rank_and_world()
        probe = torch.zeros(1, *datamodule.data_shape)
        self.scores = QualityScores(
            extractor, probe, self.splits, self.kid_subsets, self.kid_subset_size, sync=world > 1
        )
        if self.num_real:
            data_config = context.run_config.get("data")
            self.stats_path = reference_stats_path(
                self.stats_dir, data_config, datamodule, self.split, self._extractor_name, self.num_real, self.whole
            )

    def _load_real(self, device: torch.device) -> None:
        """The real data's statistics into the metrics: from the cache, or computed once (from the cached
        real features) and cached. Under DDP every rank reads (or computes) them, rank 0 writes the caches
        and alone keeps them in its metric states, so the gather counts them once."""
        rank, _ = _rank_and_world()
        path, scores = self.stats_path, self.scores
        state = torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None
        if state is not None and set(state) != set(scores.real_state_keys()):
            state = None  # another format (an older version's file): compute again
        if state is None:
            log.info("computing the real data's feature statistics once: %s", path)
            pool = real_features(
                self._extractor,
                self._datamodule,
                real_features_path(path),
                self.num_real,
                self.split,
                self.batch_size,
                device,
                write=rank == 0,
                whole=self.whole,
            )
            for chunk in pool.split(self.batch_size):  # the extractor's batches: the sums add up as they did
                scores.update_real_features(chunk.to(device))
            state = scores.real_state()
            if rank == 0:
                path.parent.mkdir(parents=True, exist_ok=True)
                with replacing(path) as tmp:  # two runs computing the same statistics never see half a file
                    torch.save(state, tmp)
        scores.load_real_state(state, local=rank == 0)
        self._real_loaded = True

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        if self.scores is None:
            return {}
        device = self._context.device
        self.scores.to(device)
        if not self._real_loaded and self.scores.has_pool and self.num_real:  # num_real 0: IS alone
            self._load_real(device)
        rank, world = _rank_and_world()
        self.scores.reset()
        # z from the (seed, 0, EVAL) stream, the z of wgangp.sample(ckpt, n, seed): every evaluation of a
        # run scores the same latent points. Every rank draws all of z and scores its share of the chunks.
        rng = self._context.rng("quality")
        for i, start in enumerate(range(0, self.num_samples, self.batch_size)):
            # a class-conditional generator also gets uniform labels, drawn after each chunk's z
            z, labels = self._context.draw(min(self.batch_size, self.num_samples - start), rng)
            if i % world == rank:
                self.scores.update_fake(generate(generator, z, labels))  # (k, C, H, W) in [-1, 1]
        return {f"val/{name}": value for name, value in self.scores.compute().items()}

    def describe(self) -> dict[str, Any]:
        return {
            "num_samples": self.num_samples,
            "num_real": self.num_real,
            "split": self.split,
            "extractor": self._extractor_name,
            "stats_path": str(self.stats_path) if self.stats_path else None,
        }
