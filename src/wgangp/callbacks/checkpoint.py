"""Checkpoints counted in generator iterations, written atomically, never with non-finite weights,
and saved on SIGINT/SIGTERM before the run exits."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from wgangp.errors import CheckpointWriteError
from wgangp.files import replacing
from wgangp.loggers import logger_states
from wgangp.resume import own_resume_point


def atomic_save_checkpoint(trainer: L.Trainer, path: Path) -> None:
    """trainer.save_checkpoint to `path` through a temporary file, fsync and rename.

    A process killed at any moment leaves either the old file or the new one, never half of one; a
    write that fails (a full disk) removes the temporary file and leaves the old checkpoint intact.
    Every rank must call this (Lightning synchronises inside save_checkpoint); rank 0 writes.
    """
    path = Path(path)
    try:
        with replacing(path, commit=trainer.is_global_zero) as tmp:
            trainer.save_checkpoint(tmp, weights_only=False)
    except OSError as e:
        reason = e.strerror or e
        resume_from = _resume_point(path.parent) or _resumed_from(trainer)
        if resume_from is None:  # nothing for a resume to find: the run starts over
            raise CheckpointWriteError(
                e.errno,
                f"could not write checkpoint {path} ({reason}); no earlier checkpoint of this run exists in "
                f"{path.parent} (no last.ckpt, no iter_*.ckpt), so there is nothing to resume from. Free disk space "
                f"under {path.parent} (or move the run with paths.log_dir=...) and restart the run from the "
                f"beginning: the same command, without ckpt_path.",
            ) from e
        kept = f"the previous {path.name} is intact" if path.exists() else f"no earlier {path.name} existed"
        raise CheckpointWriteError(
            e.errno,
            f"could not write checkpoint {path} ({reason}); {kept}. Free disk space under "
            f"{path.parent} (or move the run with paths.log_dir=...) and resume with ckpt_path={resume_from}.",
        ) from e


def _resume_point(folder: Path) -> str | None:
    """What ckpt_path can name to resume from the checkpoints `folder`: "last" when last.ckpt exists, else the
    newest kept iter_*.ckpt (ckpt_path=last finds only last.ckpt); None when it holds no checkpoint."""
    found = own_resume_point(folder.parent)
    return None if found is None else "last" if found.name == "last.ckpt" else str(found)


def _resumed_from(trainer: L.Trainer) -> str | None:
    """The checkpoint this fit resumed from (e.g. an earlier launch's, found by ckpt_path=last), if still there."""
    ckpt_path = getattr(trainer, "ckpt_path", None)
    try:
        return str(ckpt_path) if ckpt_path and Path(ckpt_path).is_file() else None
    except OSError:
        return None


class IterationCheckpoint(Callback):
    """Writes `last.ckpt` every `last_every_n_iters` generator iterations and at the end of training,
    and a kept `iter_NNNNNNN.ckpt` every `every_n_iters` (0 disables either).

    Before each write it checks the objective's NaN guard, so a non-finite state is never saved, and
    flushes every logger, so the metrics log holds every row up to the checkpoint. It runs after the
    other callbacks (train() puts it last), so their metrics of an iteration precede its checkpoint. On
    SIGINT (Ctrl-C) or SIGTERM (pre-emption) the run finishes the current generator iteration, writes
    last.ckpt and stops; `interrupted` then names the signal. A second Ctrl-C aborts at once.
    """

    def __init__(self, dirpath: str, every_n_iters: int = 10_000, last_every_n_iters: int = 500) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_iters = int(every_n_iters)
        self.last_every_n_iters = int(last_every_n_iters)
        self._last_saved_iter = -1
        self._sigint_received = False
        self._previous_sigint = None
        self.interrupted: str | None = None

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def _save(self, trainer: L.Trainer, pl_module, path: Path) -> None:
        pl_module.check_finite()
        # metrics.csv (and every logger) on disk up to this iteration first: a kill after the checkpoint
        # then loses no row before it, and the rows a kill leaves past it are dropped on resume
        for logger in trainer.loggers:
            logger.save()
        atomic_save_checkpoint(trainer, path)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["loggers"] = logger_states(trainer.loggers)  # e.g. the W&B run id a resume continues

    def _save_last(self, trainer: L.Trainer, pl_module) -> None:
        if pl_module.generator_iter != self._last_saved_iter:
            self._save(trainer, pl_module, self.last_path)
            self._last_saved_iter = pl_module.generator_iter

    def _on_sigint(self, signum, frame) -> None:
        if self._sigint_received:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._sigint_received = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(ValueError):  # signals can only be set from the main thread
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    def _restore_sigint(self) -> None:
        if self._previous_sigint is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        k = pl_module.generator_iter
        if self.every_n_iters and k % self.every_n_iters == 0:
            self._save(trainer, pl_module, self.dirpath / f"iter_{k:07d}.ckpt")
        if self.last_every_n_iters and k % self.last_every_n_iters == 0:
            self._save_last(trainer, pl_module)
        # Lightning's SIGTERM handler only sets a flag; it raises SIGTERMException after this hook.
        signal_name = "SIGTERM" if trainer.received_sigterm else "SIGINT" if self._sigint_received else None
        if signal_name is not None:
            self._save_last(trainer, pl_module)
            self.interrupted = signal_name
            trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_sigint()
        self._save_last(trainer, pl_module)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore_sigint()
        # SIGTERM during this callback's own hook (e.g. while writing last.ckpt) reaches here instead:
        # Lightning raises after the batch's hooks, so the state is still at an iteration boundary.
        if isinstance(exception, SIGTERMException):
            self._save_last(trainer, pl_module)
            self.interrupted = "SIGTERM"
