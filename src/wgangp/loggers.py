"""Loggers: Lightning's CSVLogger with metrics.csv in the run directory, appended to on resume."""

from __future__ import annotations

import csv
import os

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_only


class _AppendingWriter(ExperimentWriter):
    """Keeps an existing metrics.csv (a run resumed in its own directory) and appends to it; Lightning's
    writer deletes it. The existing header seeds the column list, so new columns merge in."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = sorted(next(csv.reader(f), []))


class RunCSVLogger(CSVLogger):
    """CSVLogger writing `metrics.csv` and `hparams.yaml` straight into `save_dir` (the run directory),
    flushed to disk every `flush_every_rows` logged rows (and at the end)."""

    def __init__(self, save_dir: str, flush_every_rows: int = 10) -> None:
        super().__init__(save_dir=save_dir, name="", version="")
        self.flush_every_rows = int(flush_every_rows)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.experiment.log_metrics(metrics, step)
        if len(self.experiment.metrics) >= self.flush_every_rows:
            self.save()

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.log_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
