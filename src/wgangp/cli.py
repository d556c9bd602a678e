"""The command line's error boundary, shared by every entry point (src/train.py, sample.py, eval.py, scripts/).

A user error (bad config value, unusable path or file) is reported as one paragraph on stderr, without a
traceback, and a documented exit code (docs/failures.md); HYDRA_FULL_ERROR=1 shows the traceback.
"""

from __future__ import annotations

import logging
import os
import sys

from wgangp.errors import CheckpointWriteError, NonFiniteError, TrainingInterrupted, UserInputError

log = logging.getLogger("wgangp")

# Exit codes of the command line: 2 bad input, 3 non-finite training, 4 checkpoint write failed,
# 128 + signal number after SIGINT/SIGTERM (the checkpoint was saved).
EXIT_CODES = {UserInputError: 2, NonFiniteError: 3, CheckpointWriteError: 4}


def exit_code(e: BaseException) -> int | None:
    """The documented exit code of `e`, None for an exception that is a bug (it keeps its traceback)."""
    if isinstance(e, TrainingInterrupted):
        return 128 + (15 if e.signal_name == "SIGTERM" else 2)
    return next((code for cls, code in EXIT_CODES.items() if isinstance(e, cls)), None)


def report_and_exit(e: BaseException) -> None:
    """Print `e` as one paragraph on stderr and exit with its code; re-raise what has no code."""
    code = exit_code(e)
    if code is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise e
    if isinstance(e, TrainingInterrupted):
        log.warning("%s", e)
        print(str(e), file=sys.stderr)
    else:
        log.error("%s", e)
        print(f"error: {e}", file=sys.stderr)
    sys.exit(code)
