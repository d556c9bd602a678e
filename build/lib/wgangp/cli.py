"""The command line's error boundary, shared by every entry point (src/train.py, sample.py, eval.py, scripts/).

A user error (bad config value, unusable path or file) is reported as one paragraph on stderr, without a
traceback, and a documented exit code (docs/failures.md); HYDRA_FULL_ERROR=1 shows the traceback.

    @entry_point
    def main(): ...          # or: with error_boundary(): ...
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

from wgangp.errors import (
    CheckpointWriteError,
    NonFiniteError,
    OutputWriteError,
    TrainingInterrupted,
    UserInputError,
)

log = logging.getLogger("wgangp")

# Exit codes of the command line (docs/failures.md): 2 bad input (config value, path, data or checkpoint
# file, too little memory), 3 non-finite training, 4 a checkpoint or output file could not be written,
# 128 + signal number after SIGINT/SIGTERM (the checkpoint was saved). Hydra's own command-line errors
# (unknown config group or key) exit 1.
EXIT_CODES = {UserInputError: 2, NonFiniteError: 3, CheckpointWriteError: 4, OutputWriteError: 4}

# torch re-raises an exception of a DataLoader worker in the main process as the same class, with
# the worker's whole traceback as its message (torch._utils.ExceptionWrapper.reraise).
_WORKER_PREFIX = re.compile(r"^Caught \w+ in DataLoader worker process (\d+)\.\nOriginal Traceback")


def exit_code(e: BaseException) -> int | None:
    """The documented exit code of `e`, None for an exception that is a bug (it keeps its traceback)."""
    if isinstance(e, TrainingInterrupted):
        return 128 + (15 if e.signal_name == "SIGTERM" else 2)
    return next((code for cls, code in EXIT_CODES.items() if isinstance(e, cls)), None)


def user_message(e: BaseException) -> str:
    """The paragraph to print for `e`: its message, or, for an error re-raised from a DataLoader worker,
    the original message without the worker's traceback."""
    text = str(e)
    worker = _WORKER_PREFIX.match(text)
    if worker is None:
        return text
    cls = type(e)
    marker = f"{cls.__module__}.{cls.__qualname__}: "
    at = text.rfind(marker)
    original = text[at + len(marker) :].strip() if at >= 0 else text.rstrip().splitlines()[-1]
    return f"{original} (raised in DataLoader worker {worker.group(1)})"


def _out_of_memory(e: BaseException) -> UserInputError | None:
    """A CUDA out-of-memory error the memory check (wgangp.memory) did not foresee, as a user error."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(e, torch.cuda.OutOfMemoryError):
        return None
    return UserInputError(
        f"the GPU ran out of memory ({str(e).splitlines()[0]}); lower data.batch_size (or use "
        "trainer.precision=bf16-mixed); the checkpoints written so far are kept."
    )


def report_and_exit(e: BaseException) -> None:
    """Print `e` as one paragraph on stderr and exit with its code; re-raise what has no code."""
    e = _out_of_memory(e) or e
    code = exit_code(e)
    if code is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise e
    message = user_message(e)
    interrupted = isinstance(e, TrainingInterrupted)
    if logging.getLogger().handlers or log.handlers:  # the run's log file (Hydra); never logging's stderr fallback
        log.log(logging.WARNING if interrupted else logging.ERROR, "%s", message)
    print(message if interrupted else f"error: {message}", file=sys.stderr)
    sys.exit(code)


@contextlib.contextmanager
def error_boundary() -> Iterator[None]:
    """Inside the block, an exception with a documented exit code ends the process as report_and_exit
    says; a bug (any other exception) keeps its traceback."""
    try:
        yield
    except Exception as e:
        report_and_exit(e)


F = TypeVar("F", bound=Callable)


# Third-party lines that are noise on our command line: an advertisement, a deprecation inside Lightning that a user
# cannot act on, and Lightning's own end-of-fit line (ours says where the run stopped and where it is).
_NOISE_WARNINGS = (r".*isinstance\(treespec, LeafSpec\).*",)
_NOISE_LINES = ("Tip: For seamless cloud logging", "`Trainer.fit` stopped:")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in _NOISE_LINES)


def quiet_third_party() -> None:
    """Drop the third-party noise above from this process's output. Called where a command line starts, never on
    import, so a user's own program that imports wgangp keeps every warning it would get."""
    for pattern in _NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())


def entry_point(fn: F) -> F:
    """Decorate a command line's main function with the error boundary and the quiet third-party output (put it
    under @hydra.main)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        quiet_third_party()
        with error_boundary():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
