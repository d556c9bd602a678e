"""The paper's image experiments (Table 3, Fig. 2, 3, 4): their configs hold the released values, each
trains a few generator iterations on tiny files in the real on-disk formats, and the figure scripts draw
from run folders laid out as the sweeps write them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import compose_config
from test_image_data import cifar_root, lsun_root, mnist_root
from test_sweep import job_config, sweep_jobs, sweep_loader
from wgangp.experiments.image_figures import (
    FIG3_METHODS,
    fig2_grid,
    fig3_curves,
    fig3_records,
    fig3_samples,
    fig3_table,
    save_fig3,
)
from wgangp.results import read_records, write_record
from wgangp.train import train

# No Inception weights here, and no classifier worth training on the tests' few random images: the image metrics off
QUICK = [
    "debug=fast",
    "callbacks.progress.refresh_rate=0",
    "~evaluators.quality",
    "~evaluators.precision_recall",
    "~evaluators.density_coverage",
]
CPU_PRESETS = ["cifar10_resnet_cpu", "cifar10_dcgan_cpu", "lsun_resnet128_cpu"]


def optimizer_of(cfg):
    opt = cfg.objective.optimizer
    return opt._target_.rsplit(".", 1)[1], opt.lr, list(opt.get("betas", []))


# ---- the experiments' values --------------------------------------------------------------------------
def test_cifar10_resnet_is_app_f_and_gan_cifar_resnet(tmp_path):
    cfg = compose_config(tmp_path, ["experiment=cifar10_resnet"])
    assert cfg.data.reader._target_.endswith("CIFAR10Reader") and cfg.data.batch_size == 64 and cfg.data.dequantize
    assert cfg.model.generator._target_.endswith("ResNetGenerator") and cfg.model.generator.norm == "batch"
    assert cfg.model.critic.norm == "none" and cfg.model.generator.channels == cfg.model.critic.channels == 128
    assert cfg.objective._target_.endswith("WGANGP") and cfg.objective.n_critic == 5 and cfg.objective.gp_weight == 10
    assert optimizer_of(cfg) == ("Adam", 2e-4, [0.0, 0.9]) and cfg.objective.generator_optimizer is None  # both
    assert cfg.objective.lr_decay == "linear" and cfg.objective.lr_decay_iters == cfg.generator_iters == 100_000
    assert cfg.objective.generator_batch_size == 128  # GEN_BS_MULTIPLE = 2
    assert cfg.evaluators.quality.num_samples == 50_000 and cfg.evaluators.quality.every_n_iters == 1000


@pytest.mark.parametrize(
    "method,objective,optimizer,n_critic,critic_norm",
    [
        (None, "WGANGP", ("Adam", 1e-4, [0.5, 0.9]), 5, "none"),  # gan_cifar.py's default MODE = 'wgan-gp'
        ("wgan_gp_adam", "WGANGP", ("Adam", 1e-4, [0.5, 0.9]), 5, "none"),
        ("wgan_gp_rmsprop", "WGANGP", ("RMSprop", 5e-5, []), 5, "none"),
        ("wgan_clip", "WGANClip", ("RMSprop", 5e-5, []), 5, "batch"),  # MODE = 'wgan': BN in D
        ("dcgan", "StandardGAN", ("Adam", 2e-4, [0.5, 0.999]), 1, "none"),
    ],
)
def test_cifar10_dcgan_is_gan_cifar_for_each_fig3_method(tmp_path, method, objective, optimizer, n_critic, critic_norm):
    cfg = compose_config(tmp_path, ["experiment=cifar10_dcgan", *([f"method={method}"] if method else [])])
    assert cfg.objective._target_.endswith(objective) and cfg.objective.n_critic == n_critic
    assert optimizer_of(cfg) == optimizer
    assert cfg.model.generator.base_filters == cfg.model.critic.base_filters == 128  # DIM = 128
    assert cfg.model.critic.norm == critic_norm and cfg.model.generator.norm == "batch"
    assert cfg.data.batch_size == 64 and cfg.generator_iters == 200_000 and not cfg.data.dequantize
    assert cfg.evaluators.quality.every_n_iters == 1000 and cfg.evaluators.quality.num_samples == 10240
    if method == "wgan_clip":
        assert cfg.objective.clip_value == 0.01


def test_cifar10_resnet_acgan_is_table_3_supervised_on_the_app_f_recipe(tmp_path):
    cfg = compose_config(tmp_path, ["experiment=cifar10_resnet_acgan"])
    o = cfg.objective
    assert o._target_ == "wgangp.objectives.acgan.WGANGPACGAN"
    assert (o.acgan_scale, o.acgan_scale_g) == (1.0, 0.1)  # gan_cifar_resnet.py: ACGAN_SCALE, ACGAN_SCALE_G
    assert (o.lr_decay, o.generator_batch_size, o.optimizer.lr, list(o.optimizer.betas)) == (
        "linear",
        128,
        2e-4,
        [0, 0.9],
    )
    assert (o.n_critic, o.gp_weight, cfg.generator_iters, cfg.data.batch_size) == (5, 10.0, 100000, 64)
    assert cfg.model.generator._target_.endswith("ConditionalResNetGenerator") and cfg.model.critic.norm == "none"
    assert cfg.data.dequantize is True


def test_lsun_resnet128_is_a_resnet_on_128px_bedrooms(tmp_path):
    cfg = compose_config(tmp_path, ["experiment=lsun_resnet128"])
    assert cfg.data.reader._target_.endswith("LSUNReader") and cfg.data.image_size == 128 and cfg.data.batch_size == 64
    assert cfg.model.generator._target_.endswith("ResNetGenerator") and cfg.model.critic.norm == "layer"
    assert optimizer_of(cfg) == ("Adam", 1e-4, [0.0, 0.9]) and cfg.objective.n_critic == 5  # gan_64x64.py
    assert cfg.generator_iters == 200_000 and cfg.objective.lr_decay == "none"


@pytest.mark.parametrize("preset", CPU_PRESETS)
def test_cpu_presets_keep_the_recipe_on_fashion_mnist_with_the_offline_classifier(tmp_path, preset):
    full = compose_config(tmp_path, [f"experiment={preset.removesuffix('_cpu')}"])
    cpu = compose_config(tmp_path, [f"experiment={preset}"])
    assert cpu.data.dataset_class.endswith("FashionMNIST") and cpu.data.image_size == 28
    assert cpu.metrics.extractor._target_.endswith("ClassifierFeatures") and cpu.evaluators.quality.split == "val"
    assert cpu.generator_iters <= 1000 and cpu.trainer.precision == "32-true"
    for key in ["_target_", "n_critic", "gp_weight", "lr_decay", "generator_batch_size", "optimizer"]:
        assert cpu.objective.get(key) == full.objective.get(key), key
    assert cpu.objective.lr_decay_iters == cpu.generator_iters  # a decay runs over the preset's own length


# ---- the sweeps ---------------------------------------------------------------------------------------
def test_fig3_sweep_is_four_methods_on_the_dcgan_like_nets(monkeypatch, tmp_path):
    monkeypatch.setenv("WGANGP_LOG_DIR", str(tmp_path))
    loader = sweep_loader()
    for name, data in [("fig3", "CIFAR10Reader"), ("fig3_cpu", "MNISTReader")]:
        cfg, jobs = sweep_jobs(loader, name)
        assert [j[0] for j in jobs] == [f"method={m}" for m in FIG3_METHODS]  # the plot's folders
        optimizers = [("RMSprop", 5e-5), ("RMSprop", 5e-5), ("Adam", 1e-4), ("Adam", 2e-4)]
        for job, optimizer in zip(jobs, optimizers, strict=True):
            job_cfg = job_config(loader, cfg, job)
            assert job_cfg.data.reader._target_.endswith(data) and optimizer_of(job_cfg)[:2] == optimizer
            assert job_cfg.sweep.score == "val/inception_score"
            run_dir = Path(job_cfg.hydra.sweep.dir) / job_cfg.hydra.sweep.subdir
            assert run_dir == tmp_path / "sweeps" / name / job[0].split("=")[1]


def test_lsun_fig2_sweep_is_seven_architectures_by_four_app_e_methods(monkeypatch, tmp_path):
    monkeypatch.setenv("WGANGP_LOG_DIR", str(tmp_path))
    loader = sweep_loader()
    cfg, jobs = sweep_jobs(loader, "lsun_fig2")
    assert len(jobs) == 28 and len({tuple(j) for j in jobs}) == 28
    app_e = {
        "wgan_gp_adam": ("WGANGP", ("Adam", 1e-4, [0.5, 0.9]), 5),
        "wgan_clip": ("WGANClip", ("RMSprop", 5e-5, []), 5),
        "dcgan": ("StandardGAN", ("Adam", 2e-4, [0.5, 0.999]), 1),
        "lsgan": ("LSGAN", ("RMSprop", 1e-4, []), 1),
    }
    for method, (objective, optimizer, n_critic) in app_e.items():
        job_cfg = job_config(loader, cfg, ["model=lsun_gated", f"method={method}"])
        assert job_cfg.objective._target_.endswith(objective) and optimizer_of(job_cfg) == optimizer
        assert job_cfg.objective.n_critic == n_critic and job_cfg.model.critic.nonlinearity == "gated"
        assert job_cfg.data.reader._target_.endswith("LSUNReader") and job_cfg.data.image_size == 64
        assert job_cfg.generator_iters == 200_000
        run_dir = Path(job_cfg.hydra.sweep.dir) / job_cfg.hydra.sweep.subdir
        assert run_dir == tmp_path / "sweeps" / "lsun_fig2" / "lsun_gated" / method  # fig2_grid.py's layout


# ---- a few generator iterations of each, on files in the real formats ----------------------------------
def trained_generator_moved(run_dir: Path) -> bool:
    ckpt = torch.load(run_dir / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["wgangp"]["generator_iter"] == 2
    return ckpt


@pytest.mark.parametrize("experiment", ["cifar10_resnet", "cifar10_resnet_acgan"])
def test_cifar10_resnet_trains_on_cifar_files(tmp_path, experiment):
    root, _, _ = cifar_root(tmp_path)
    cfg = compose_config(
        tmp_path / "run",
        [
            f"experiment={experiment}",
            *QUICK,
            f"data.root={root}",
            "data.download=false",
            "generator_iters=2",
            "model.generator.channels=8",
            "model.critic.channels=8",
        ],
    )
    assert cfg.objective.generator_batch_size == 128 and cfg.objective.lr_decay == "linear"
    train(cfg)
    trained_generator_moved(tmp_path / "run")
    with open(tmp_path / "run/metrics.csv", newline="") as f:
        lrs = [float(r["train/lr"]) for r in csv.DictReader(f) if r.get("train/lr")]
    assert lrs == pytest.approx([2e-4, 1e-4])  # gan_cifar_resnet.py: LR * max(0, 1 - iteration/ITERS), ITERS = 2


@pytest.mark.parametrize("method", ["wgan_clip", "dcgan"])
def test_cifar10_dcgan_trains_on_cifar_files(tmp_path, method):
    root, _, _ = cifar_root(tmp_path)
    train(
        compose_config(
            tmp_path / "run",
            [
                "experiment=cifar10_dcgan",
                f"method={method}",
                *QUICK,
                f"data.root={root}",
                "data.download=false",
                "generator_iters=2",
                "model.generator.base_filters=8",
                "model.critic.base_filters=8",
            ],
        )
    )
    trained_generator_moved(tmp_path / "run")


def test_lsun_resnet128_trains_on_an_lmdb(tmp_path):
    root = lsun_root(tmp_path, n=20)
    train(
        compose_config(
            tmp_path / "run",
            [
                "experiment=lsun_resnet128",
                *QUICK,
                f"data.root={root}",
                "data.num_workers=0",
                "generator_iters=2",
                "model.generator.channels=4",
                "model.critic.channels=4",
                "objective.n_critic=2",
            ],
        )
    )
    images = torch.load(tmp_path / "run/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert images["wgangp"]["generator_iter"] == 2


def test_a_cpu_preset_trains_on_fashion_mnist_idx_files(tmp_path):
    root, _, _ = mnist_root(tmp_path, folder="FashionMNIST")
    train(
        compose_config(
            tmp_path / "run",
            [
                "experiment=cifar10_resnet_cpu",
                *QUICK,
                f"data.root={root}",
                "data.download=false",
                "generator_iters=2",
                "model.generator.channels=8",
                "model.critic.channels=8",
            ],
        )
    )
    trained_generator_moved(tmp_path / "run")


# ---- the figure scripts -------------------------------------------------------------------------------
def write_metrics(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ["step", "train/critic_loss", "val/fid", "val/inception_score", "val/wall_seconds"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)


def test_fig3_plot_reads_each_methods_quality_rows_and_draws_both_panels(tmp_path):
    for k, method in enumerate(["wgan_clip", "wgan_gp_adam"]):
        write_metrics(
            tmp_path / method / "metrics.csv",
            [
                {"step": 10, "train/critic_loss": -1.0},  # a training row: no evaluation
                {"step": 50, "val/fid": 90 - k, "val/inception_score": 2 + k, "val/wall_seconds": 30 + k},
                {"step": 60, "train/critic_loss": -2.0},
                {"step": 100, "val/fid": 50 - k, "val/inception_score": 3 + k, "val/wall_seconds": 61 + k},
            ],
        )
    curves = fig3_curves(tmp_path)
    assert list(curves) == ["wgan_clip", "wgan_gp_adam"]  # the paper's legend order, runs present only
    assert curves["wgan_gp_adam"] == {
        "step": [50, 100],
        "val/wall_seconds": [31, 62],
        "val/inception_score": [3, 4],
        "val/fid": [89, 49],
    }
    records = fig3_records(tmp_path, list(curves), "fig3_test", code="abc1234")
    assert [(r["run"], r["commit"], r["iteration"]) for r in records] == [
        ("wgan_clip", "abc1234", 100),
        ("wgan_gp_adam", "abc1234", 100),
    ]
    assert records[1]["curve"]["val/fid"] == [89, 49] and records[1]["metrics"]["val/inception_score"] == 4
    # the table renders from the records as they read back from JSON: a run without FID shows nan, not a crash
    write_record(
        tmp_path / "results", records[1] | {"run": "dcgan", "curve": records[1]["curve"] | {"val/fid": [None, None]}}
    )
    for record in records:
        write_record(tmp_path / "results", record)
    table = fig3_table(read_records(tmp_path / "results", "fig3_test"))
    assert "| WGAN clipping (RMSProp) | 100 | 61 | 3.00 | 3.00 | 50.0 |" in table
    assert "| WGAN-GP (Adam) | 100 | 62 | 4.00 | 4.00 | 49.0 |" in table
    assert table.index("WGAN-GP (Adam)") < table.index("| DCGAN | 100 | 62 | 4.00 | 4.00 | nan |")  # paper's order
    path = save_fig3(curves, tmp_path / "fig3.png")
    assert Image.open(path).size == (1100, 792)  # 2 x 2 panels (IS, FID; iterations, wall-clock) at 110 dpi


def test_fig2_and_fig3_sample_grids_have_a_row_per_architecture_and_a_column_per_method(tmp_path):
    root, _, _ = mnist_root(tmp_path, folder="FashionMNIST")
    run = tmp_path / "run"
    train(
        compose_config(
            run,
            [
                "experiment=cifar10_dcgan_cpu",
                *QUICK,
                f"data.root={root}",
                "data.download=false",
                "generator_iters=2",
                "model.generator.base_filters=4",
                "model.critic.base_filters=4",
            ],
        )
    )
    sweep = tmp_path / "sweep"
    for model, method in [("dcgan", "wgan_gp_adam"), ("lsun_tanh", "lsgan")]:
        (sweep / model / method / "checkpoints").mkdir(parents=True)
        (sweep / model / method / "checkpoints/last.ckpt").write_bytes((run / "checkpoints/last.ckpt").read_bytes())
    path = fig2_grid(sweep, tmp_path / "fig2.png", samples_per_cell=4)
    assert Image.open(path).size == (4 * 264, 2 * 264)  # 4 methods x the 2 architectures run, 2.4 in at 110 dpi
    fig3 = tmp_path / "fig3_sweep"
    assert fig3_samples(fig3, tmp_path / "none.png") is None  # no run yet: nothing drawn
    for method in ["wgan_clip", "dcgan"]:
        (fig3 / method / "checkpoints").mkdir(parents=True)
        (fig3 / method / "checkpoints/last.ckpt").write_bytes((run / "checkpoints/last.ckpt").read_bytes())
    path = fig3_samples(fig3, tmp_path / "fig3_samples.png", samples_per_cell=4)
    assert Image.open(path).size == (2 * 264, 264)  # Fig. 3's final samples: one row, the 2 methods run
