"""The technique comparison (sweeps/techniques_cpu.yaml, limited_data_cpu.yaml) through the command line at toy
size: every technique trains on Fashion-MNIST idx files the test writes, and scripts/techniques.py turns the runs
into records and the docs tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_image_data import mnist_root

ROOT = Path(__file__).resolve().parents[1]
TOY = [
    "data.download=false",
    "techniques.wgan_iters=2",
    "techniques.single_step_iters=2",
    "techniques.eval_every=0",
    "model.generator.base_filters=4",
    "model.critic.base_filters=4",
    "model.generator.latent_dim=16",
    "data.batch_size=8",
    "callbacks.progress.refresh_rate=0",
    "~evaluators.quality",  # no classifier worth training on the test's random images: the metrics are off
    "~evaluators.precision_recall",
    "~evaluators.density_coverage",
    "sweep.score=val/w_estimate",  # the sweep records a score: the critic validation's, with FID off
]


def test_every_technique_trains_through_the_sweep_and_becomes_a_record(tmp_path):
    root, _, _ = mnist_root(tmp_path, folder="FashionMNIST")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, str(ROOT / "src/train.py"), "--config-dir", str(ROOT / "sweeps")]
    out = subprocess.run(
        [*cmd, "--config-name", "techniques_cpu", f"hydra.sweep.dir={sweep}", "seed=0", f"data.root={root}", *TOY],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    runs = sorted(p.parent.parent.name for p in sweep.glob("*/seed0/result.json"))
    assert runs == sorted(["wgan_gp", "wgan_gp_lazy", "wgan_gp_diffaugment", "hinge_sn", "rpgan_r1r2", "dcgan"])
    for run in runs:
        assert json.loads((sweep / run / "seed0/result.json").read_text())["status"] == "ok", run
    docs = tmp_path / "docs"
    docs.mkdir()
    block = "<!-- rendered from results/techniques_cpu by wgangp.experiments.techniques.render_table -->\n"
    (docs / "page.md").write_text(block + "old\n<!-- end of rendered table -->\n")
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/techniques.py"), str(sweep), "--table", "techniques_cpu",
         "--results", str(tmp_path / "results"), "--docs", str(docs)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    records = sorted((tmp_path / "results/techniques_cpu").glob("*.json"))
    assert len(records) == 6
    record = json.loads(records[0].read_text())
    assert record["iteration"] == 2 and "seed=0" in record["overrides"] and record["commit"]
    page = (docs / "page.md").read_text()
    assert "| RpGAN + R1 + R2 | 1 | 2 |" in page and "old" not in page


def test_the_limited_data_sweep_trains_each_augmentation_on_a_subset(tmp_path):
    root, _, _ = mnist_root(tmp_path, folder="FashionMNIST")
    sweep = tmp_path / "sweep"
    out = subprocess.run(
        [sys.executable, str(ROOT / "src/train.py"), "--config-dir", str(ROOT / "sweeps"), "--config-name",
         "limited_data_cpu", f"hydra.sweep.dir={sweep}", f"data.root={root}", *TOY, "data.subset=16",
         "evaluators.critic_validation.every_n_iters=0", "evaluators.critic_validation.num_samples=8"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    for technique in ("wgan_gp", "wgan_gp_diffaugment", "wgan_gp_ada"):
        metrics = (sweep / technique / "seed0/metrics.csv").read_text()
        assert "val/w_estimate_gap" in metrics, technique  # Fig. 5b's measure, at the end
