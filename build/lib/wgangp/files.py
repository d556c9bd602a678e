"""Atomic file writes, once for every file a run keeps (checkpoints, metrics.csv rewrites, cached statistics and
classifiers, sweep results, evaluation results): a temporary file beside the target, fsync, rename. A process
killed at any moment leaves the old file or the new one, never half of one; a failed write removes the temporary
file and leaves the old one intact."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | Path, commit: bool = True) -> Iterator[Path]:
    """A temporary path beside `path` for the block to write; when the block ends without an error, the file is
    fsynced and renamed over `path` (unless `commit` is False: a DDP rank other than 0, whose write Lightning
    discards). The temporary name carries the process id, so two processes writing one cache file (parallel sweep
    jobs) never write into each other's temporary file. Errors propagate after the temporary file is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if commit:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()  # after the rename there is nothing left to remove


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically, creating its folder; OSError on failure, old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
