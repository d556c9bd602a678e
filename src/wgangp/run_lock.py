"""One run per run directory, and never a second run over a first one's files.

Two runs writing one directory at once would overwrite each other's checkpoints, metrics.csv and .hydra/: an
exclusive flock on `<run dir>/.run.lock` is held for as long as the run lives. The lock is the operating system's
(fcntl.flock), so it goes away with the process however that ends (exit, crash, SIGKILL): a lock file left behind
without a holder does not block. The file records the holder (pid, host, start time) so that a refused run can
name it. And one run after another in the same directory (a relaunch without ckpt_path, the usual requeue mistake)
would overwrite the first one's last.ckpt and append to its metrics.csv: wgangp.resume.prepare_start refuses it,
here before Hydra writes .hydra/ and again in train() (the Python API).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from wgangp.cli import report_and_exit
from wgangp.errors import UserInputError, writing
from wgangp.resume import prepare_start

LOCK_NAME = ".run.lock"
# Locks this process holds: resolved run directory -> [file descriptor, nesting depth]. Re-entrant, so
# the Hydra callback (before .hydra/ is written) and train() (also for multirun jobs) can both take it.
_held: dict[Path, list[int]] = {}


def acquire(run_dir: Path) -> None:
    """Take the run directory's lock or raise UserInputError naming its holder and the fix."""
    run_dir = Path(run_dir).resolve()
    if run_dir in _held:
        _held[run_dir][1] += 1
        return
    with writing(run_dir, "run directory"):  # read-only, a file in the way, a full disk: exit 4, no traceback
        run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "a process that is just starting"
        os.close(fd)
        raise UserInputError(
            f"run directory {run_dir} is in use by another run ({holder}): two runs in one directory would "
            "overwrite each other's checkpoints and metrics.csv, so this one did not start. Give it its own "
            "directory (a different hydra.run.dir=..., or leave hydra.run.dir out for a new timestamped one), or "
            "wait until that run has ended and then resume it with ckpt_path=last."
        ) from None
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}, started {started}\n".encode(), 0)
    _held[run_dir] = [fd, 1]


def release(run_dir: Path) -> None:
    """Give back one acquire() of this process; the last one unlocks (the file stays: unlinking would race)."""
    run_dir = Path(run_dir).resolve()
    entry = _held.get(run_dir)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _held[run_dir]
        fcntl.flock(entry[0], fcntl.LOCK_UN)
        os.close(entry[0])


@contextlib.contextmanager
def run_directory_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir`'s lock inside the block (see acquire)."""
    acquire(run_dir)
    try:
        yield
    finally:
        release(run_dir)


class RunDirectoryLock(Callback):
    """Hydra callback: lock a single run's directory before Hydra writes .hydra/ and train.log into it.

    A refusal exits at once with the command line's code for bad input (2); multirun jobs are locked by
    train() itself, so a refused job is recorded as failed and the sweep goes on.
    """

    def __init__(self) -> None:
        self._run_dir: Path | None = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        # The default run directory interpolates ${hydra:...} and ${now:...}: Hydra sets its config only in
        # run_job, after this callback, so set it here, and write the resolved folder back so that run_job (a
        # second later, maybe) uses the very folder locked here.
        HydraConfig.instance().set_config(config)
        run_dir = OmegaConf.select(config, "hydra.run.dir")
        if not run_dir:
            return
        with read_write(config.hydra.run):
            config.hydra.run.dir = str(run_dir)
        run_dir = Path(str(run_dir))
        try:
            acquire(run_dir)
        except Exception as e:  # noqa: BLE001 - a user error or an unwritable folder: one paragraph, its exit code
            report_and_exit(e)
        self._run_dir = run_dir
        try:  # before Hydra writes .hydra/ over the files of a run that lives there
            task = copy.deepcopy(config)
            with read_write(task), open_dict(task):
                del task["hydra"]
            prepare_start(task, run_dir)
        except Exception as e:  # noqa: BLE001
            release(run_dir)
            report_and_exit(e)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._run_dir is not None:
            release(self._run_dir)
            self._run_dir = None
