"""Loggers whose history stays consistent with the checkpoint a run resumes from.

metrics.csv lives in the run directory and is appended to on resume; every logger is flushed before each
checkpoint is written (wgangp.callbacks.checkpoint), so nothing logged up to a checkpoint is lost by a
kill. On resume from generator iteration k (`continue_loggers`, called by train before fit): metrics.csv
drops its rows past k (a killed run logged them after its last checkpoint; the resumed run logs them
again), TensorBoard purges its events past k (SummaryWriter's purge_step) and W&B continues the run id
the checkpoint recorded. A final metrics.csv row without its newline (cut by the kill) is dropped too, and a
metrics.csv that cannot be read as the log (not UTF-8, not CSV) is kept as metrics.csv.damaged-N, with a
warning, while the resumed run starts a fresh one.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_only

from wgangp.errors import writing
from wgangp.files import replacing

log = logging.getLogger("wgangp")


class DamagedLog(ValueError):
    """metrics.csv is not the log a CSV writer left: not UTF-8, not CSV, or rows that do not fit its header."""


def read_metrics_log(path: str) -> tuple[list[str], list[dict[str, str]], bool]:
    """metrics.csv -> (header, complete rows as dicts, whether a final partial row was cut off).

    A last row without its newline was being written when the run died: it is left out (its iteration is past
    the last checkpoint, whose flush completed every row before it). Raises DamagedLog for a file that is not
    UTF-8 CSV with a `step` column whose every row has the header's columns and a numeric step.
    """
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return [], [], False
    cut = data.rfind(b"\n") + 1
    if cut == 0:
        raise DamagedLog("no complete line, not even the header")
    try:
        text = data[:cut].decode("utf-8")
        table = list(csv.reader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error) as err:
        raise DamagedLog(str(err)) from err
    header, rows = (table[0], table[1:]) if table else ([], [])
    if "step" not in header or len(set(header)) != len(header):
        raise DamagedLog(f"its first line {text.splitlines()[0][:80]!r} is not a header with a step column")
    step = header.index("step")
    for i, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DamagedLog(f"line {i} has {len(row)} fields, the header {len(header)}")
        try:
            float(row[step] or 0)
        except ValueError as err:
            raise DamagedLog(f"line {i} has the step {row[step][:40]!r}") from err
    return header, [dict(zip(header, row, strict=True)) for row in rows], cut < len(data)


def keep_damaged_log(path: str, reason: str) -> str:
    """Move an unreadable metrics.csv aside to metrics.csv.damaged-N (the first free N) and warn; returns
    the new name. The run then starts a fresh metrics.csv: nothing the user had is deleted."""
    n = 1
    while os.path.lexists(kept := f"{path}.damaged-{n}"):
        n += 1
    with writing(kept, "metrics log"):
        os.rename(path, kept)
    log.warning(
        "%s could not be read as the metrics log (%s); kept it as %s and started a fresh %s",
        path,
        reason,
        kept,
        os.path.basename(path),
    )
    return kept


class _AppendingWriter(ExperimentWriter):
    """Keeps an existing metrics.csv (a run resumed in its own directory) and appends to it; Lightning's
    writer deletes it. The existing header seeds the column list, so new columns merge in; a damaged file
    is kept aside (metrics.csv.damaged-N) and a fresh one started."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            try:
                header, rows, partial = read_metrics_log(self.metrics_file_path)
            except DamagedLog as err:
                keep_damaged_log(self.metrics_file_path, str(err))
                return
            if partial:  # appending would glue the next row onto it
                _rewrite(self.metrics_file_path, header, rows)
            self.metrics_keys = sorted(header)


def _rewrite(path: str, header: list[str], rows: list[dict[str, str]]) -> None:
    """Replace metrics.csv with `header` and `rows`, atomically (a temporary file renamed over it)."""
    with writing(path, "metrics log"), replacing(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)


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
        """Drop the rows of metrics.csv past `generator_iter` (written after the resumed checkpoint) and a final
        row without its newline (cut by a kill). A file that cannot be read as the log (not UTF-8, not CSV) is
        moved aside to metrics.csv.damaged-N with a warning, and the resumed run starts a fresh one."""
        path = os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)
        if self._experiment is not None or not os.path.isfile(path):
            return
        try:
            header, rows, partial = read_metrics_log(path)
        except DamagedLog as err:
            keep_damaged_log(path, str(err))
            return
        kept = [r for r in rows if not r["step"] or float(r["step"]) <= generator_iter]
        if len(kept) < len(rows) or partial:
            _rewrite(path, header, kept)

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
