"""Sec. 5.6 / Fig. 5b: the critic's W estimate on held-out vs training data, and experiment=mnist_overfit."""

import csv

import pytest
import torch
from torch import nn

from conftest import compose_config
from wgangp.data.writers import labelled_images, write_mnist
from wgangp.evaluation.context import eval_context
from wgangp.evaluation.critic_validation import CriticValidation
from wgangp.train import train


class TwoLevelData:
    """Training points are all 1, held-out points all 0 (shape (n, 3)): a stand-in data module."""

    def eval_samples(self, n, index=0, split="train"):
        return torch.full((n, 3), 1.0 if split == "train" else 0.0)

    def eval_batch(self, n, index=0, split="train"):  # as wgangp.data.base: {"real"} (no labels here)
        return {"real": self.eval_samples(n, index, split)}


class SumCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))  # a parameter tells the evaluator the device

    def forward(self, x):  # D(x) = sum of coordinates: (N, 3) -> (N,)
        return x.sum(1)


class ConstantGenerator(nn.Module):
    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, z):  # G(z) = -0.5 everywhere: (N, 4) -> (N, 3)
        return torch.full((z.size(0), 3), -0.5)


def test_w_estimates_are_the_critic_means_on_each_split_minus_the_fakes(tmp_path):
    evaluator = CriticValidation(str(tmp_path), every_n_iters=7, num_samples=10, batch_size=4)
    evaluator.setup(TwoLevelData(), eval_context(ConstantGenerator(), seed=0))
    metrics = evaluator.evaluate(ConstantGenerator(), SumCritic())
    # D(train) = 3, D(val) = 0, D(fake) = -1.5
    assert metrics == pytest.approx({"val/w_estimate": 1.5, "val/w_estimate_train": 4.5, "val/w_estimate_gap": 3.0})


def test_mnist_overfit_experiment_runs_and_draws_fig_5b(tmp_path):
    train_set, test_set = labelled_images(60, 28, 28, 1, seed=1), labelled_images(30, 28, 28, 1, seed=2)
    raw = tmp_path / "data/mnist/MNIST/raw"
    write_mnist(raw, (train_set[0][..., 0], train_set[1]), (test_set[0][..., 0], test_set[1]))
    cfg = compose_config(
        tmp_path / "run",
        [
            "experiment=mnist_overfit",
            "debug=fast",
            "callbacks.progress.refresh_rate=0",
            f"paths.data_dir={tmp_path}/data",
            "data.subset=20",
            "data.download=false",
            "model.generator.base_filters=8",
            "model.critic.base_filters=8",
            "evaluators.critic_validation.every_n_iters=2",
            "evaluators.critic_validation.num_samples=16",
            "evaluators.quality=null",
            "generator_iters=4",
        ],
    )
    assert cfg.data.subset == 20 and cfg.model.critic.norm == "none" and cfg.data.batch_size == 16  # debug=fast's
    train(cfg)
    with open(tmp_path / "run/metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/w_estimate")]
    assert [int(r["step"]) for r in rows] == [2, 4]
    for r in rows:
        gap = float(r["val/w_estimate_train"]) - float(r["val/w_estimate"])
        assert gap == pytest.approx(float(r["val/w_estimate_gap"]), abs=1e-5)
    assert (tmp_path / "run/w_estimate.png").stat().st_size > 1000
