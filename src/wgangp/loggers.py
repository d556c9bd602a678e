"""Loggers whose history stays consistent with the checkpoint a run resumes from.

metrics.csv lives in the run directory and is appended to on resume; every logger is flushed before each
checkpoint is written (wgangp.callbacks.checkpoint), so nothing logged up to a checkpoint is lost by a
kill. On resume from generator iteration k (`continue_loggers`, called by train before fit): metrics.csv
drops its rows past k (a killed run logged them after its last checkpoint; the resumed run logs them
again), TensorBoard purges its events past k (SummaryWriter's purge_step) and W&B continues the run id
the checkpoint recorded.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
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

    def continue_from(self, generator_iter: int, state: dict[str, Any]) -> None:
        """Drop the rows of metrics.csv past `generator_iter` (written after the resumed checkpoint)."""
        path = os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)
        if self._experiment is not None or not os.path.isfile(path):
            return
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header, rows = reader.fieldnames or [], list(reader)
        kept = [r for r in rows if not r.get("step") or float(r["step"]) <= generator_iter]
        if len(kept) == len(rows):
            return
        tmp = f"{path}.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, path)

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.log_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


class RunTensorBoardLogger(TensorBoardLogger):
    """TensorBoardLogger that, on resume, hides the events a killed run wrote after its checkpoint."""

    def continue_from(self, generator_iter: int, state: dict[str, Any]) -> None:
        if self._experiment is None:  # SummaryWriter is created on first use, with these kwargs
            self._kwargs["purge_step"] = generator_iter + 1


class RunWandbLogger(WandbLogger):
    """WandbLogger that, on resume, continues the W&B run the checkpoint was written by (its run id)."""

    def resume_state(self) -> dict[str, Any]:
        return {"run_id": self.version} if self.version else {}

    def continue_from(self, generator_iter: int, state: dict[str, Any]) -> None:
        run_id = state.get("run_id")
        if run_id and self._experiment is None:  # wandb.init runs on first use, with these kwargs
            self._wandb_init.update(id=run_id, resume="allow")
            self._id = run_id


def logger_states(loggers: list[Logger]) -> dict[str, dict[str, Any]]:
    """What each logger needs to continue after a resume (plain values, stored in checkpoints)."""
    return {type(lg).__name__: lg.resume_state() for lg in loggers if hasattr(lg, "resume_state")}


def continue_loggers(loggers: list[Logger], checkpoint: dict[str, Any]) -> None:
    """Make every logger continue the history of `checkpoint` (a loaded wgangp checkpoint); call before fit."""
    generator_iter = int(checkpoint["wgangp"]["generator_iter"])
    states = checkpoint.get("loggers") or {}
    for lg in loggers:
        if hasattr(lg, "continue_from"):
            lg.continue_from(generator_iter, states.get(type(lg).__name__, {}))
