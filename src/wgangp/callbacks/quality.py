"""Sample quality during training (Sec. 5.3, Fig. 3): Inception Score, FID and KID on image data."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from wgangp.metrics.features import extract, generated_images, real_images, reference_stats, reference_stats_path
from wgangp.metrics.quality import score_features
from wgangp.sampling import eval_mode

log = logging.getLogger(__name__)


def is_image_data(datamodule) -> bool:
    """(C, H, W) data; the toy problems are (2,)."""
    return len(tuple(getattr(datamodule, "data_shape", ()))) == 3


class QualityMetrics(Callback):
    """Every `every_n_iters` generator iterations and at the end, on image data only: scores
    `num_samples` generated images and logs `val/inception_score`, `val/inception_score_std` (10
    splits, as the paper reports IS), `val/fid`, `val/kid`, `val/kid_std`, and `val/wall_seconds`:
    training wall-clock time at that step without the time spent evaluating, so curves can be drawn
    against time as in Fig. 3 (right). It is kept in checkpoints, so a resumed run continues the clock.
    `val/quality_seconds` is the evaluation's own cost.

    The real data's statistics (`num_real` images from the data module's evaluation stream) are
    computed once per dataset, split and extractor and cached under `stats_dir`.

    Args:
        extractor: builds the feature extractor (see wgangp.metrics.features); called on first use.
        stats_dir: cache directory of the real data's statistics.
        split: which real data the statistics describe ("train": the data module's own distribution).
    """

    def __init__(
        self, extractor: Callable[[], nn.Module], stats_dir: str, every_n_iters: int = 5000,
        num_samples: int = 5000, num_real: int = 10000, split: str = "train", splits: int = 10,
        kid_subsets: int = 100, kid_subset_size: int = 1000, batch_size: int = 250,
    ) -> None:
        self.make_extractor = extractor
        self.stats_dir = Path(stats_dir)
        self.every_n_iters = int(every_n_iters)
        self.num_samples = int(num_samples)
        self.num_real = int(num_real)
        self.split = split
        self.splits = int(splits)
        self.kid_subsets = int(kid_subsets)
        self.kid_subset_size = int(kid_subset_size)
        self.batch_size = int(batch_size)
        self.enabled = False
        self._extractor: nn.Module | None = None
        self._reference: dict[str, torch.Tensor] | None = None
        self._last_iter = -1
        self._wall_offset = 0.0  # training seconds before this process (restored on resume)
        self._eval_seconds = 0.0  # seconds this process spent evaluating
        self._t0 = 0.0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.enabled = trainer.is_global_zero and self.every_n_iters > 0 and is_image_data(trainer.datamodule)
        if self.enabled and self._extractor is None:
            # Build the extractor now, not at the first evaluation hours in: missing Inception weights
            # turn the scores off with one warning that says where to put them; training goes on.
            try:
                self._extractor = self.make_extractor().to(pl_module.device).eval()
            except FileNotFoundError as e:
                log.warning("IS/FID/KID during training are off: %s", e)
                self.enabled = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0 = time.perf_counter()
        self._eval_seconds = 0.0

    def wall_seconds(self) -> float:
        """Training wall-clock seconds so far, evaluations excluded."""
        return self._wall_offset + time.perf_counter() - self._t0 - self._eval_seconds

    def _prepare(self, trainer: L.Trainer, pl_module) -> None:
        device = pl_module.device
        self._extractor = self._extractor.to(device)
        dm = trainer.datamodule
        run_config = pl_module.run_config or {}
        path = reference_stats_path(self.stats_dir, run_config.get("data"), dm, self.split,
                                    self._extractor.name, self.num_real)
        self._reference = reference_stats(
            path, self._extractor, lambda: real_images(dm, self.num_real, self.split, self.batch_size),
            self.kid_subset_size, device,
        )

    @torch.no_grad()
    def evaluate(self, trainer: L.Trainer, pl_module) -> dict[str, float]:
        """Score the generator now and log the metrics at the current generator iteration."""
        k = pl_module.generator_iter
        if k == self._last_iter:
            return {}
        t0 = time.perf_counter()
        wall = self.wall_seconds()
        if self._reference is None:
            self._prepare(trainer, pl_module)
        with eval_mode(pl_module.generator):
            batches = generated_images(pl_module.generator, self.num_samples, pl_module.seed, self.batch_size,
                                       pl_module.device)
            features = extract(self._extractor, batches, pl_module.device)
        scores = score_features(features, self._reference, self.splits, self.kid_subsets, self.kid_subset_size)
        metrics = {f"val/{name}": value for name, value in scores.items()}
        self._eval_seconds += time.perf_counter() - t0
        metrics.update({"val/wall_seconds": wall, "val/quality_seconds": time.perf_counter() - t0})
        pl_module.log_metrics(metrics)
        trainer.callback_metrics.update({name: torch.tensor(v) for name, v in metrics.items()})
        self._last_iter = k
        return metrics

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.enabled and pl_module.generator_iter % self.every_n_iters == 0:
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.enabled:
            self.evaluate(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"wall_seconds": self.wall_seconds() if self._t0 else self._wall_offset}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._wall_offset = float(state_dict.get("wall_seconds", 0.0))
