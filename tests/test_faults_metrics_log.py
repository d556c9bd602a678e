"""The metrics log stays consistent with the checkpoint across a SIGKILL and `ckpt_path=last`.

Every logger is flushed before each checkpoint write, so no row up to the checkpoint is lost; on resume
metrics.csv drops the rows a killed run wrote past its checkpoint (the resumed run writes them again),
TensorBoard purges its events past it, and W&B continues the checkpoint's run id.
"""

import csv
import re
import signal
import time

import torch
import wandb
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import spawn_train
from wgangp.train import train

METRIC = "train/critic_loss"


def csv_series(run_dir, metric=METRIC):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [(int(r["step"]), float(r[metric])) for r in csv.DictReader(f) if r.get(metric)]


def tensorboard_series(run_dir, metric=METRIC):
    acc = EventAccumulator(str(run_dir / "tensorboard"))  # applies purge_step as TensorBoard shows it
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(metric)]


def _iteration(ckpt):
    return torch.load(ckpt, map_location="cpu", weights_only=True)["wgangp"]["generator_iter"]


def _kill_with_rows_past_the_checkpoint(proc, run_dir, min_iter=8, timeout=180):
    """SIGKILL `proc` at a moment when metrics.csv holds rows past last.ckpt (checked while it is stopped)."""
    ckpt, deadline = run_dir / "checkpoints/last.ckpt", time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        if ckpt.exists() and (run_dir / "metrics.csv").exists():
            proc.send_signal(signal.SIGSTOP)
            k, steps = _iteration(ckpt), [s for s, _ in csv_series(run_dir)]
            if k >= min_iter and steps and max(steps) > k:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=60)
                return k, steps
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.1)
    raise AssertionError("never caught the run with rows past its checkpoint")


def test_sigkill_then_resume_keeps_every_row_once(tiny_config, tmp_path):
    n = 400
    # rows reach the disk every 7 rows and checkpoints every 5 iterations: without the flush at each
    # checkpoint a kill loses rows before it, and without the truncation the resume repeats rows after it
    common = ["logger=tensorboard", "logger.csv.flush_every_rows=7", "callbacks.checkpoint.last_every_n_iters=5"]
    run = tmp_path / "killed"
    k, on_disk = _kill_with_rows_past_the_checkpoint(spawn_train(run, f"generator_iters={n}", *common), run)
    assert on_disk[:k] == list(range(1, k + 1))  # nothing up to the checkpoint was lost to the kill
    end = k + 6
    resumed = spawn_train(run, f"generator_iters={end}", "ckpt_path=last", *common)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()

    train(tiny_config(f"generator_iters={end}", *common, run_dir=tmp_path / "straight"))
    straight = csv_series(tmp_path / "straight")
    assert [s for s, _ in straight] == list(range(1, end + 1))
    assert csv_series(run) == straight  # every step once, strictly increasing, the uninterrupted values
    for metric in ("val/w1", "train/w_estimate"):  # the other writers' rows too
        steps = [s for s, _ in csv_series(run, metric)]
        assert steps == sorted(set(steps)) and steps == [s for s, _ in csv_series(tmp_path / "straight", metric)]
    board = tensorboard_series(run)
    assert [s for s, _ in board] == list(range(1, end + 1))
    torch.testing.assert_close([v for _, v in board], [v for _, v in straight])


def test_wandb_resume_continues_the_run_id(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_MODE", "offline")
    train(tiny_config("generator_iters=2", "logger=wandb", run_dir=tmp_path / "a"))
    ckpt = torch.load(tmp_path / "a/checkpoints/last.ckpt", weights_only=True)
    run_id = ckpt["loggers"]["RunWandbLogger"]["run_id"]
    assert [p.name for p in (tmp_path / "a/wandb").glob("offline-run-*")][0].endswith(run_id)
    wandb.finish()  # the first run's process would have ended: a resume is a new wandb.init
    train(tiny_config("generator_iters=3", "logger=wandb", "ckpt_path=last", run_dir=tmp_path / "a"))
    wandb.finish()
    runs = sorted(p.name for p in (tmp_path / "a/wandb").glob("offline-run-*"))
    # wandb names a folder offline-run-<second>-<id>, with "-1" added when the resume starts within the same second
    assert len(runs) == 2 and all(re.fullmatch(rf"offline-run-\d{{8}}_\d{{6}}-{run_id}(-\d+)?", r) for r in runs), runs
