"""Hydra-composed training runs on tiny settings: every config, outputs, resume."""

import csv

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from wgangp.build import build
from wgangp.train import train


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("data", ["8gaussians", "25gaussians", "swissroll"])
def test_every_toy_data_set_trains_and_writes_its_outputs(tiny_config, tmp_path, data):
    cfg = tiny_config(f"data={data}", "experiment=toy")
    metrics = train(cfg)
    run = tmp_path / "run"
    for name in [
        "checkpoints/last.ckpt",
        "checkpoints/iter_0000002.ckpt",
        "metrics.csv",
        "value_surface.png",
        "w1_curve.png",
        "plots/value_surface_0000002.png",
    ]:
        assert (run / name).is_file(), name
    rows = read_metrics(run)
    train_steps = [int(r["step"]) for r in rows if r["train/critic_loss"]]
    assert train_steps == [1, 2, 3, 4]  # generator iterations, logged every one (debug=fast)
    w1_steps = [int(r["step"]) for r in rows if r["val/w1"]]
    assert w1_steps == [2, 4]
    assert 0 < metrics["val/w1"] < 10


@pytest.mark.parametrize("logger", ["csv", "tensorboard", "wandb"])
def test_every_logger_config_trains(tiny_config, tmp_path, logger, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(tiny_config(f"logger={logger}", "generator_iters=2"))
    run = tmp_path / "run"
    assert (run / "metrics.csv").is_file()  # every logger config keeps metrics.csv
    if logger == "tensorboard":
        assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    if logger == "wandb":
        assert list((run / "wandb").glob("offline-run-*"))


def test_paper_defaults_and_toy_experiment_settings(tiny_config):
    cfg = tiny_config()
    assert cfg.objective.gp_weight == 10.0 and cfg.objective.n_critic == 5
    assert list(cfg.objective.optimizer.betas) == [0.0, 0.9] and cfg.objective.optimizer.lr == 1e-4
    toy = tiny_config("experiment=toy", "~debug")
    assert toy.objective.gp_weight == 0.1 and list(toy.objective.optimizer.betas) == [0.5, 0.9]
    assert toy.data.batch_size == 256 and toy.generator_iters == 2000


def test_lightning_global_step_counts_generator_iterations(tiny_config, tmp_path):
    train(tiny_config("generator_iters=7", "objective.n_critic=2", "callbacks.checkpoint.last_every_n_iters=100"))
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["wgangp"]["generator_iter"] == 7
    assert ckpt["global_step"] == 7  # one step counter: n_critic critic steps do not advance it


def test_a_stock_lightning_step_callback_runs_in_generator_iterations(tiny_config, tmp_path):
    """ModelCheckpoint(every_n_train_steps=3) saves at generator iterations 3 and 6, whatever n_critic."""
    datamodule, objective = build(tiny_config("generator_iters=7", "objective.n_critic=3"))
    saved = []

    class Record(ModelCheckpoint):
        def _save_checkpoint(self, trainer, filepath):
            saved.append((trainer.global_step, trainer.lightning_module.generator_iter))

    trainer = L.Trainer(
        max_steps=7,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Record(dirpath=tmp_path / "stock", every_n_train_steps=3, save_last=False)],
    )
    trainer.fit(objective, datamodule=datamodule)
    assert trainer.global_step == objective.generator_iter == 7
    assert saved == [(3, 3), (6, 6)]


def test_resume_continues_exactly_where_it_stopped(tiny_config, tmp_path):
    train(tiny_config("generator_iters=4", run_dir=tmp_path / "full"))
    train(tiny_config("generator_iters=2", run_dir=tmp_path / "first"))
    first_last = tmp_path / "first/checkpoints/last.ckpt"
    train(tiny_config("generator_iters=4", f"ckpt_path={first_last}", run_dir=tmp_path / "resumed"))

    full = torch.load(tmp_path / "full/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    resumed = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert resumed["wgangp"]["generator_iter"] == 4
    for key, value in full["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    for opt_full, opt_resumed in zip(full["optimizer_states"], resumed["optimizer_states"], strict=True):
        for pid, state in opt_full["state"].items():
            for k, v in state.items():
                assert torch.equal(torch.as_tensor(v), torch.as_tensor(opt_resumed["state"][pid][k])), k
    steps = [int(r["step"]) for r in read_metrics(tmp_path / "resumed") if r["train/critic_loss"]]
    assert steps == [3, 4]


def test_ckpt_path_last_finds_the_newest_run_of_the_same_name(tiny_config, tmp_path):
    runs = tmp_path / "logs/train/wgan_gp-toy_mlp-8gaussians"  # the default layout: a new folder per launch
    train(tiny_config("generator_iters=2", f"paths.log_dir={tmp_path / 'logs'}", run_dir=runs / "a"))
    train(tiny_config("generator_iters=3", "ckpt_path=last", f"paths.log_dir={tmp_path / 'logs'}", run_dir=runs / "b"))
    ckpt = torch.load(runs / "b/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["wgangp"]["generator_iter"] == 3
    assert [int(r["step"]) for r in read_metrics(runs / "b") if r["train/critic_loss"]] == [3]
