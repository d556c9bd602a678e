"""Bad input stops before training with one paragraph; faults lose nothing; killed runs resume exactly."""

import errno
import os
import signal
import time

import pytest
import torch

from conftest import TINY, run_cli, spawn_train, wait_for
from wgangp.callbacks.checkpoint import atomic_save_checkpoint
from wgangp.errors import CheckpointWriteError, NonFiniteError
from wgangp.nets.mlp import MLPCritic
from wgangp.train import train


def test_invalid_values_are_all_named_before_training(tmp_path):
    invalid = [
        "objective.n_critic=0",
        "objective.gp_weight=-1",
        "objective.optimizer.lr=-0.1",
        "data.batch_size=0",
        "model.generator.latent_dim=0",
        "generator_iters=0",
    ]
    out = run_cli("train.py", *TINY, f"hydra.run.dir={tmp_path}", *invalid)
    assert out.returncode == 2
    for text in invalid:
        assert text in out.stderr, text
    assert "Traceback" not in out.stderr and not (tmp_path / "checkpoints").exists()


def test_clip_bound_and_unknown_option(tmp_path):
    out = run_cli("train.py", *TINY, f"hydra.run.dir={tmp_path}", "objective=wgan_clip", "objective.clip_value=0")
    assert out.returncode == 2 and "objective.clip_value=0" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("train.py", "objective=wgan_gpp")
    assert out.returncode != 0 and "wgan_gp_one_sided" in out.stderr  # lists the available options


def test_checkpoint_of_another_objective_is_refused(tiny_config, tmp_path):
    train(tiny_config("generator_iters=2", run_dir=tmp_path / "a"))
    out = run_cli(
        "train.py",
        *TINY,
        "objective=dcgan",
        f"ckpt_path={tmp_path / 'a/checkpoints/last.ckpt'}",
        f"hydra.run.dir={tmp_path / 'b'}",
    )
    assert out.returncode == 2 and "different setup" in out.stderr and "WGANGP" in out.stderr


class InfCritic(MLPCritic):
    """Returns inf from its `inf_from_call`-th forward on (16 forwards per WGAN-GP generator iteration)."""

    def __init__(self, data_shape, inf_from_call: int, **kwargs):
        super().__init__(data_shape, **kwargs)
        self.calls, self.inf_from_call = 0, inf_from_call

    def forward(self, x):
        self.calls += 1
        out = super().forward(x)
        return out * float("inf") if self.training and self.calls >= self.inf_from_call else out


def test_nan_guard_names_iteration_and_term_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path):
    calls_per_iter = 5 * 3 + 1  # n_critic x (real, fake, interpolates) + the generator step
    cfg = tiny_config(
        "generator_iters=6",
        f"model.critic._target_={__name__}.InfCritic",
        f"+model.critic.inf_from_call={2 * calls_per_iter + 1}",
    )
    with pytest.raises(NonFiniteError, match="at generator iteration 3") as info:
        train(cfg)
    assert "train/critic_loss" in str(info.value)
    assert f"{tmp_path / 'run/checkpoints/last.ckpt'} holds the last good state" in str(info.value)
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=False)
    assert ckpt["wgangp"]["generator_iter"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


def test_interrupted_rename_or_full_disk_leaves_the_old_checkpoint(tiny_config, tmp_path, monkeypatch):
    train(tiny_config("generator_iters=2"))
    last = tmp_path / "run/checkpoints/last.ckpt"
    before = last.read_bytes()

    class FakeTrainer:
        is_global_zero = True

        def save_checkpoint(self, path, weights_only=False):
            with open(path, "wb") as f:
                f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CheckpointWriteError, match="previous last.ckpt is intact"):
        atomic_save_checkpoint(FakeTrainer(), last)
    assert last.read_bytes() == before and not list(last.parent.glob(".*.tmp"))

    class Renamed(FakeTrainer):
        def save_checkpoint(self, path, weights_only=False):
            open(path, "wb").write(b"new")

    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):  # killed between the temporary file and the rename
        atomic_save_checkpoint(Renamed(), last)
    assert last.read_bytes() == before
    torch.load(last, weights_only=False)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_resumes_to_the_uninterrupted_weights(tiny_config, tmp_path, sig):
    n = 150
    run = tmp_path / "killed"
    proc = spawn_train(run, f"generator_iters={n}", "callbacks.checkpoint.last_every_n_iters=1")
    last = run / "checkpoints/last.ckpt"
    wait_for(last, proc)
    time.sleep(0.5)
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    stopped_at = torch.load(last, weights_only=False)["wgangp"]["generator_iter"]
    assert 0 < stopped_at < n, "the run finished before the signal; raise n"
    if sig == signal.SIGTERM:  # saved a checkpoint after the current iteration, said so, exited 143
        assert code == 128 + 15 and "resume" in proc.stderr.read()
    resumed = spawn_train(run, f"generator_iters={n}", "ckpt_path=last", "callbacks.checkpoint.last_every_n_iters=50")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    train(tiny_config(f"generator_iters={n}", run_dir=tmp_path / "straight"))
    reference = _weights(tmp_path / "straight/checkpoints/last.ckpt")
    for key, value in _weights(last).items():
        assert torch.equal(value, reference[key]), key


def test_same_seed_is_bit_for_bit_repeatable_on_the_cpu(tiny_config, tmp_path):
    for name in ("a", "b"):
        train(tiny_config("generator_iters=3", "seed=7", run_dir=tmp_path / name))
    a, b = _weights(tmp_path / "a/checkpoints/last.ckpt"), _weights(tmp_path / "b/checkpoints/last.ckpt")
    assert all(torch.equal(a[k], b[k]) for k in a)
