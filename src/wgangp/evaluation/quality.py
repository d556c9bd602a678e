"""Sample quality on image data (Sec. 5.3, Fig. 3, Table 3): Inception Score, FID and KID."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from wgangp.errors import MissingWeightsError
from wgangp.evaluation.base import Evaluator, device_of
from wgangp.evaluation.inputs import draw_inputs, generate, latent_codes
from wgangp.files import replacing
from wgangp.metrics.features import real_images, reference_stats_path
from wgangp.metrics.quality import QualityScores
from wgangp.rng import eval_generator

log = logging.getLogger("wgangp")


def _rank_and_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)


class ImageQuality(Evaluator):
    """`val/inception_score`, `val/inception_score_std` (10 splits, as the paper reports IS), `val/fid`,
    `val/kid` and `val/kid_std` of `num_samples` generated images (the fixed z of
    `wgangp.sample(ckpt, n, seed)`), through torchmetrics (wgangp.metrics.quality).

    The real data's statistics (`num_real` images from the data module's evaluation stream: FID's
    sums and KID's first `kid_subset_size` features) are computed once per dataset, split and
    extractor and cached under `stats_dir`. Under DDP every rank scores its share of the generated
    images and torchmetrics gathers the states, so all ranks get the numbers one process would.

    Args:
        extractor: builds the feature extractor (wgangp.metrics.features.InceptionFeatures,
            wgangp.metrics.classifier.ClassifierFeatures, ...), called in `setup`.
        stats_dir: cache directory of the real data's statistics.
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
        num_real: int = 10000,
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
        self.num_real = int(num_real)
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

    def setup(self, datamodule, objective) -> None:
        self._datamodule, self._seed = datamodule, int(objective.seed)
        self._codes = latent_codes(objective)  # InfoGAN: z carries its codes
        # Build the extractor now, not at the first evaluation hours in.
        try:
            extractor = self.make_extractor().eval()
        except MissingWeightsError as e:
            if self.strict:
                raise
            log.warning("IS/FID/KID are off: %s", e)
            return
        self._extractor_name = extractor.name
        _, world = _rank_and_world()
        probe = torch.zeros(1, *datamodule.data_shape)
        self.scores = QualityScores(
            extractor, probe, self.splits, self.kid_subsets, self.kid_subset_size, sync=world > 1
        )
        data_config = (objective.run_config or {}).get("data")
        self.stats_path = reference_stats_path(
            self.stats_dir, data_config, datamodule, self.split, self._extractor_name, self.num_real
        )

    def _load_real(self, device: torch.device) -> None:
        """The real data's statistics into the metrics: from the cache, or computed once and cached.
        Under DDP every rank reads (or computes) them, rank 0 writes the cache and alone keeps them in its
        metric states, so the gather counts them once."""
        rank, _ = _rank_and_world()
        path, scores = self.stats_path, self.scores
        state = torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None
        if state is not None and set(state) != set(scores.real_state_keys()):
            state = None  # another format (an older version's file): compute again
        if state is None:
            log.info("computing the real data's feature statistics once: %s", path)
            for images in real_images(self._datamodule, self.num_real, self.split, self.batch_size):
                scores.update_real(images.to(device))
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
        device = device_of(generator)
        self.scores.to(device)
        if not self._real_loaded and self.scores.has_pool:
            self._load_real(device)
        rank, world = _rank_and_world()
        self.scores.reset()
        # z from the (seed, 0, EVAL) stream, the z of wgangp.sample(ckpt, n, seed): every evaluation of a
        # run scores the same latent points. Every rank draws all of z and scores its share of the chunks.
        rng = eval_generator(self._seed, "quality")
        for i, start in enumerate(range(0, self.num_samples, self.batch_size)):
            # a class-conditional generator also gets uniform labels, drawn after each chunk's z
            z, labels = draw_inputs(generator, min(self.batch_size, self.num_samples - start), rng, self._codes)
            if i % world == rank:
                self.scores.update_fake(generate(generator, z, labels))  # (k, C, H, W) in [-1, 1]
        return {f"val/{name}": value for name, value in self.scores.compute().items()}

    def describe(self) -> dict[str, Any]:
        return {
            "num_samples": self.num_samples,
            "num_real": self.num_real,
            "split": self.split,
            "extractor": self._extractor_name,
            "stats_path": str(self.stats_path),
        }
