"""scripts/gpu_check.sh without a GPU: it refuses at once, and its step 3 (scripts/time_experiment.py)
works on the CPU: the iteration timer in a real run, the projection to a full run, the CIFAR-format data."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from wgangp.build import compose_config
from wgangp.callbacks.timing import projected_hours
from wgangp.data.images import ImageDataModule
from wgangp.data.readers import CIFAR10Reader
from wgangp.train import train

spec = importlib.util.spec_from_file_location("time_experiment", REPO / "scripts" / "time_experiment.py")
time_experiment = importlib.util.module_from_spec(spec)
spec.loader.exec_module(time_experiment)


def test_projection_is_seconds_per_iteration_times_the_iterations():
    assert projected_hours(0.036, 100_000) == pytest.approx(1.0)  # Table 3's 100K in an hour: 36 ms each
    timing = {"seconds_per_iter": 0.018, "timed_iters": 250, "warmup_iters": 50, "device": "cuda:0"}
    text, ok = time_experiment.summary(timing, 100_000, max_hours=1.0)
    assert ok and "0.0180 s per generator iteration (250 timed after 50 warm-up, cuda:0)" in text
    assert "projected 100000 generator iterations: 0.50 h (30 min)" in text and "target 1 h: met" in text
    text, ok = time_experiment.summary({**timing, "seconds_per_iter": 0.072}, 100_000, max_hours=1.0)
    assert not ok and "2.00 h (120 min)" in text and "MISSED" in text
    assert time_experiment.summary(timing, 10, max_hours=None)[1]  # no target: never a failure
    with pytest.raises(ValueError):
        projected_hours(0.0, 100)


def test_the_timer_times_the_iterations_after_warm_up_of_a_real_run_on_written_cifar_files(tmp_path):
    data_root = time_experiment.write_cifar_like(tmp_path / "cifar10", images=20)
    datamodule = ImageDataModule(CIFAR10Reader, root=str(data_root), download=False, batch_size=4)
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert datamodule.data_shape == (3, 32, 32) and len(datamodule.load("train")) == 20  # the released format

    timing_file = tmp_path / "timing.json"
    overrides = time_experiment.timing_overrides("none", data_root, timing_file, warmup=1)
    assert "experiment=none" not in overrides and "callbacks.evaluation=null" in overrides
    cfg = compose_config(
        tmp_path / "run",
        [
            *overrides,
            "data=cifar10",
            "model=dcgan",
            "model.generator.base_filters=4",
            "model.critic.base_filters=4",
            "data.batch_size=4",
            "generator_iters=3",
        ],
    )
    train(cfg)
    timing = json.loads(timing_file.read_text())
    assert timing["timed_iters"] == 2 and timing["warmup_iters"] == 1  # iterations 2 and 3
    assert timing["seconds_per_iter"] == pytest.approx(timing["seconds"] / 2) and timing["seconds"] > 0
    assert timing["device"].startswith(("cpu", "cuda"))
    assert not (tmp_path / "run" / "checkpoints").exists()  # checkpoints off: training alone is timed


def test_gpu_check_parses_and_stops_at_once_without_a_cuda_device(tmp_path):
    script = str(REPO / "scripts" / "gpu_check.sh")
    assert subprocess.run(["bash", "-n", script], capture_output=True).returncode == 0
    # CUDA hidden, so the check behaves the same on a machine with a GPU
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PY": sys.executable, "GPU_CHECK_DIR": str(tmp_path / "logs")}
    out = subprocess.run(["bash", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "gpu_check: no CUDA device" in out.stderr and "--dry-run" in out.stderr
    assert not (tmp_path / "logs" / "summary.txt").exists()  # no step ran
