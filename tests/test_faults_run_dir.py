"""One run per run directory: a second run on a directory in use refuses at once and names the holder."""

import fcntl
import os
import signal
import socket

import pytest
import torch

from conftest import TINY, run_cli, spawn_train, wait_for
from wgangp.errors import UserInputError
from wgangp.run_lock import LOCK_NAME, acquire, release
from wgangp.train import train


def test_second_run_on_a_directory_in_use_refuses_naming_the_holder(tmp_path):
    run = tmp_path / "run"
    first = spawn_train(run, "generator_iters=100000", "callbacks.checkpoint.last_every_n_iters=1")
    try:
        wait_for(run / "checkpoints/last.ckpt", first)  # training, holding the lock
        first.send_signal(signal.SIGSTOP)  # paused (it keeps its lock), so it leaves the CPU to the second run
        hydra_config = (run / ".hydra/config.yaml").read_bytes()
        second = run_cli("train.py", *TINY, f"hydra.run.dir={run}", "seed=1", "generator_iters=3")
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert (
            f"run directory {run} is in use by another run (pid {first.pid} on host {socket.gethostname()}, "
            "started " in second.stderr
        )
        assert "hydra.run.dir" in second.stderr and "ckpt_path=last" in second.stderr  # the fixes
        assert (run / ".hydra/config.yaml").read_bytes() == hydra_config  # the holder's .hydra/ untouched
        assert first.poll() is None  # and the holder runs on
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    # the kill dropped the lock (the operating system's): this process can take it now
    acquire(run)
    release(run)


def test_a_stale_lock_file_does_not_block_and_names_this_run(tiny_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).write_text("pid 999999 on host gone, started 2020-01-01 00:00:00 UTC\n")  # holder long dead
    train(tiny_config("generator_iters=1", run_dir=run))
    assert torch.load(run / "checkpoints/last.ckpt", weights_only=True)["wgangp"]["generator_iter"] == 1
    assert (run / LOCK_NAME).read_text().startswith(f"pid {os.getpid()} on host {socket.gethostname()}")


def test_a_run_in_this_process_holds_its_directory_until_it_returns(tiny_config, tmp_path):
    """train() releases its lock when it returns or raises, so the same process can resume in place."""
    run = tmp_path / "run"
    train(tiny_config("generator_iters=1", run_dir=run))
    train(tiny_config("generator_iters=2", "ckpt_path=last", run_dir=run))
    with pytest.raises(UserInputError):
        train(tiny_config("generator_iters=1", "seed=5", "ckpt_path=last", run_dir=run))  # refused resume
    fd = os.open(run / LOCK_NAME, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: nothing kept it after the refusal
    os.close(fd)
