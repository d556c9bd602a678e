"""The command lines as users type them (subprocesses)."""

import numpy as np
import torch

from conftest import TINY, run_cli
from wgangp import sample


def test_help_lists_the_config_groups():
    out = run_cli("train.py", "--help")
    assert out.returncode == 0
    for group in ["objective:", "model:", "data:", "trainer:", "logger:", "callbacks:", "experiment:", "debug:"]:
        assert group in out.stdout
    assert "generator_iters" in out.stdout


def test_cfg_job_prints_the_composed_config():
    out = run_cli("train.py", "--cfg", "job", "objective.gp_weight=1")
    assert out.returncode == 0
    assert "gp_weight: 1" in out.stdout and "_target_: wgangp.objectives.wgan_gp.WGANGP" in out.stdout


def test_a_typo_in_a_config_field_is_an_error():
    out = run_cli("train.py", "objective.gp_wieght=5", *TINY)
    assert out.returncode != 0
    assert "gp_wieght" in out.stderr


def test_train_then_sample_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    out = run_cli("train.py", "objective=wgan_gp", "model=toy_mlp", "data=8gaussians", *TINY, f"hydra.run.dir={run}")
    assert out.returncode == 0, out.stderr[-2000:]
    ckpt = run / "checkpoints/last.ckpt"
    assert ckpt.is_file() and (run / "metrics.csv").is_file()

    points = sample(ckpt, 50, seed=1)
    assert points.shape == (50, 2) and torch.isfinite(points).all()
    assert torch.equal(points, sample(ckpt, 50, seed=1)) and not torch.equal(points, sample(ckpt, 50, seed=2))

    out = run_cli("sample.py", f"ckpt_path={ckpt}", "num_samples=50", f"out={tmp_path / 's.npy'}", "seed=1")
    assert out.returncode == 0, out.stdout + out.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), points.numpy())
    out = run_cli("sample.py", f"ckpt_path={ckpt}", "num_samples=50", f"out={tmp_path / 's.png'}")
    assert out.returncode == 0 and (tmp_path / "s.png").stat().st_size > 1000
    out = run_cli("sample.py", f"ckpt_path={tmp_path / 'missing.ckpt'}")
    assert out.returncode == 2 and "does not exist" in out.stderr
