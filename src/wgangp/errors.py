"""Errors the command line reports as one paragraph, without a traceback (HYDRA_FULL_ERROR=1 shows it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


class UserInputError(ValueError):
    """A bad config value, combination, path or file: the message names it and says how to fix it."""


class MissingWeightsError(UserInputError):
    """A feature extractor's weights file is not on disk (nothing is downloaded): the message says which file to
    put where. Evaluations during training turn Inception's metrics off with a warning; a feature space chosen for
    itself (metrics=dinov2, clip: `stops_training`) stops training before its first step; src/eval.py stops (exit 2).
    """

    stops_training: bool = False


class NonFiniteError(RuntimeError):
    """Training produced a non-finite loss term; nothing non-finite was written to a checkpoint."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (e.g. the disk is full); the previous one is intact."""


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM stopped the run after a generator iteration; a checkpoint was saved."""

    def __init__(self, signal_name: str, generator_iter: int, checkpoint: str) -> None:
        super().__init__(
            f"{signal_name} received: stopped after generator iteration {generator_iter} and saved {checkpoint}; "
            "resume with the same command plus ckpt_path=last (or ckpt_path=" + checkpoint + ")"
        )
        self.signal_name = signal_name
        self.generator_iter = generator_iter
        self.checkpoint = checkpoint


class OutputWriteError(OSError):
    """An output file (a plot, samples, an evaluation result) could not be written: the disk is full or
    the location is missing, read-only or not a folder."""


@contextlib.contextmanager
def writing(path, what: str) -> Iterator[None]:
    """Turn an OSError raised while writing `path` into an OutputWriteError naming it and the fix."""
    try:
        yield
    except OSError as err:
        if isinstance(err, (OutputWriteError, CheckpointWriteError)):
            raise
        reason = err.strerror or type(err).__name__
        if isinstance(err, (FileExistsError, NotADirectoryError)) and err.filename:  # mkdir over a file
            target = Path(err.filename)
            blocker = next((p for p in (target, *target.parents) if p.exists() and not p.is_dir()), target)
            reason = f"{blocker} is not a folder"
        raise OutputWriteError(
            f"could not write the {what} {path} ({reason}); free disk space, or choose a writable location "
            f"(a folder that exists or can be created)."
        ) from err
