"""Mixed precision with the gradient penalty: bf16 trains with the norm in fp32; fp16's loss scale leaves
the penalty unchanged; trainer.precision=auto and the oneDNN fp32 matmul check."""

from __future__ import annotations

import copy
import csv
import math
from functools import partial
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision
from torch import nn

from wgangp.build import build
from wgangp.objectives.engine import critic_terms
from wgangp.objectives.wgan_gp import WGANGP
from wgangp.penalties import gradient_penalty, input_gradient_norms, r1_penalty
from wgangp.precision import (
    FP32_MATMUL_RTOL,
    bf16_is_fast,
    onednn_fp32_matmul_error,
    resolve_precision,
    use_onednn_fp32_matmul,
)
from wgangp.train import train

# A linear critic whose input gradient is exactly representable in bf16: ||w||^2 = 1.125, so the penalty
# is (sqrt(1.125) - 1)^2 = 0.0036797... A bf16 norm would round sqrt(1.125) to 1.0625 and give 0.0039.
W = torch.tensor([0.75, 0.5, 0.5, 0.25])
PENALTY = (math.sqrt(1.125) - 1) ** 2


def linear_critic() -> nn.Module:
    critic = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(W)
    return critic


class RecordingCritic(nn.Module):
    """A small MLP critic that records the gradient reaching its output in every backward pass."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if out.requires_grad:
            out.register_hook(lambda g: self.seen.append(g.detach().clone()))
        return out


def test_penalty_norm_is_fp32_under_bf16_autocast():
    real, fake = torch.randn(8, 4), torch.randn(8, 4)
    critic = linear_critic()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert critic(real).dtype == torch.bfloat16  # the critic itself runs in bf16
        norms = input_gradient_norms(critic, real)
        gp = gradient_penalty(critic, real, fake)
    assert norms.dtype == torch.float32 and gp.dtype == torch.float32
    torch.testing.assert_close(norms, torch.full((8,), math.sqrt(1.125)), rtol=1e-6, atol=0)
    torch.testing.assert_close(gp, torch.tensor(PENALTY), rtol=1e-5, atol=0)  # a bf16 norm is 6% off


@pytest.mark.parametrize("scale", [1024.0, torch.tensor(65536.0)])
def test_fp16_loss_scale_leaves_penalty_and_gradients_unchanged(scale):
    real, fake, eps = torch.randn(6, 4), torch.randn(6, 4), torch.rand(6)
    results = []
    for s in (None, scale):
        critic = RecordingCritic()
        gp = gradient_penalty(critic, real, fake, eps, grad_scale=s)
        (gp + r1_penalty(critic, real, grad_scale=s)).backward()
        grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in critic.parameters()]
        results.append((gp.detach(), grads, critic.seen[0]))
    (gp0, grads0, seen0), (gp1, grads1, seen1) = results
    torch.testing.assert_close(gp1, gp0, rtol=1e-6, atol=0)
    for g1, g0 in zip(grads1, grads0, strict=True):
        torch.testing.assert_close(g1, g0, rtol=1e-5, atol=1e-7)
    # the inner autograd.grad really ran on the scaled output: d(S * sum(out)) / d out_i = S
    torch.testing.assert_close(seen0, torch.ones(6, 1))
    torch.testing.assert_close(seen1, torch.full((6, 1), float(scale)))


def test_objective_passes_the_grad_scaler_scale_to_the_penalty():
    critic = RecordingCritic()
    objective = WGANGP(
        generator=nn.Linear(2, 4),
        critic=critic,
        optimizer=partial(torch.optim.Adam, lr=1e-4),
        n_critic=1,
    )
    assert objective.penalty_grad_scale() is None  # no trainer: fp32
    scaler = torch.amp.GradScaler("cpu", init_scale=512.0)
    objective._trainer = SimpleNamespace(precision_plugin=SimpleNamespace(scaler=scaler), world_size=1, global_rank=0)
    real, fake = torch.randn(5, 4), torch.randn(5, 4)
    terms = critic_terms(objective, real, fake, torch.Generator().manual_seed(0))
    torch.testing.assert_close(objective.penalty_grad_scale(), torch.tensor(512.0))
    assert torch.equal(critic.seen[-1], torch.full((5, 1), 512.0))  # the penalty's inner gradient, scaled
    objective._trainer = None
    unscaled = critic_terms(objective, real, fake, torch.Generator().manual_seed(0))
    torch.testing.assert_close(terms["gradient_penalty"], unscaled["gradient_penalty"], rtol=1e-6, atol=0)


def _metrics(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return [row for row in csv.DictReader(f) if row.get("train/critic_loss")]


def test_bf16_training_runs_with_the_penalty(tiny_config, tmp_path):
    cfg = tiny_config(
        "experiment=toy",
        "debug=fast",
        "model.generator.width=32",
        "model.critic.width=32",
        "trainer.precision=bf16-mixed",
        "trainer.accelerator=cpu",
        "evaluators.w1=null",
    )
    train(cfg)
    rows = _metrics(tmp_path / "run")
    assert len(rows) == cfg.generator_iters  # logged every iteration (debug=fast)
    for row in rows:
        for key in ("train/critic_loss", "train/generator_loss", "train/gradient_penalty", "train/grad_norm"):
            assert math.isfinite(float(row[key])), (key, row)
    # the penalty's norms are real norms of a trained critic, not zeros from an underflowed gradient
    assert all(float(r["train/grad_norm"]) > 1e-3 for r in rows)


def test_bf16_trains_the_toy_problem_as_well_as_fp32(tiny_config, tmp_path):
    """The bf16 check: the same toy run (seed, data, z) in fp32 and in bf16-mixed, val/w1 every 50
    generator iterations; bf16 stays within 20% of fp32 at every evaluation (measured: within 2% for
    seeds 0-2), and both learn. 128-wide nets and 300 iterations keep it within the fast suite."""
    curves = {}
    for precision in ("32-true", "bf16-mixed"):
        run = tmp_path / precision
        cfg = tiny_config(
            "experiment=toy",
            "model.generator.width=128",
            "model.critic.width=128",
            "generator_iters=300",
            f"trainer.precision={precision}",
            "trainer.accelerator=cpu",
            "evaluators.w1.every_n_iters=50",
            "evaluators.w1.num_points=1000",
            "evaluators.w1.plot_every_n_iters=100000",
            "data.batch_size=256",
            "trainer.log_every_n_steps=50",
            "callbacks.checkpoint.every_n_iters=1000",
            "callbacks.checkpoint.last_every_n_iters=1000",
            run_dir=run,
        )
        train(cfg)
        with open(run / "metrics.csv") as f:
            curves[precision] = [float(r["val/w1"]) for r in csv.DictReader(f) if r.get("val/w1")]
    fp32, bf16 = curves["32-true"], curves["bf16-mixed"]
    assert len(fp32) == len(bf16) == 6
    assert fp32[-1] < 0.5 * fp32[0] and bf16[-1] < 0.5 * bf16[0]  # both trained
    for a, b in zip(fp32, bf16, strict=True):
        assert abs(b - a) <= 0.2 * a, (fp32, bf16)


def test_auto_precision_resolution():
    assert resolve_precision("32-true") == "32-true"  # a precision the user set is kept
    assert resolve_precision("16-mixed", "cpu") == "16-mixed"
    expected = "bf16-mixed" if bf16_is_fast("cpu") else "32-true"
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("auto", "tpu") == "32-true"


def test_onednn_fp32_matmul_is_used_only_where_it_is_fp32_exact():
    previous = torch.backends.mkldnn.matmul.fp32_precision
    try:
        err = onednn_fp32_matmul_error()
        assert 0 <= err < 1
        assert torch.backends.mkldnn.matmul.fp32_precision == previous  # the check restores the setting
        on = use_onednn_fp32_matmul("auto")
        assert on == (bf16_is_fast("cpu") and err <= FP32_MATMUL_RTOL)
        if on:  # then an fp32 matmul keeps fp32 accuracy
            a, b = torch.randn(300, 512), torch.randn(512, 300)
            exact = a.double() @ b.double()
            assert float(((a @ b).double() - exact).abs().max() / exact.abs().max()) < FP32_MATMUL_RTOL
        use_onednn_fp32_matmul(False)
        assert torch.backends.mkldnn.matmul.fp32_precision == "none"
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = previous


def test_fp16_with_a_grad_scaler_trains_through_overflow_steps(tiny_config):
    """Lightning maps 16-mixed to bf16 on a CPU; the fp16 path (GPUs) is run here with its plugin given explicitly:
    CPU autocast in fp16 and a GradScaler, whose first scale (65536) overflows the penalty's inner gradient."""
    cfg = tiny_config("experiment=toy", "generator_iters=6")
    datamodule, objective = build(cfg)
    initial = [p.detach().clone() for p in objective.parameters()]
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=6,
        logger=False,
        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(objective, datamodule=datamodule)  # the NaN guard lets the scaler skip overflowing steps
    assert objective.generator_iter == 6
    assert scaler.get_scale() < 2.0**16  # at least one step overflowed and was skipped
    assert all(torch.isfinite(p).all() for p in objective.parameters())
    moved = [float((p - p0).abs().max()) for p, p0 in zip(objective.parameters(), initial, strict=True)]
    assert max(moved) > 1e-5


def test_every_step_of_an_iteration_sees_the_weights_the_step_before_left_under_autocast():
    """A plain torch.autocast region around a generator iteration caches bf16 copies of the weights: the
    loop must drop them after each optimizer step, or critic step 2 runs on the iteration's initial weights."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    generator = nn.Linear(2, 4)
    generator.latent_dim = 2
    objective = WGANGP(generator=generator, critic=critic, optimizer=partial(torch.optim.SGD, lr=0.5), n_critic=2)
    probe, seen, after_step = torch.randn(3, 4), [], []
    critic_loss = objective.critic_loss

    def recording_loss(s):
        with torch.no_grad():
            seen.append(critic(probe).float())  # the critic as this step's forward sees it
        return critic_loss(s)

    objective.critic_loss = recording_loss
    objective.after_critic_step = lambda: after_step.append(copy.deepcopy(critic))
    opt_g, opt_d = objective.configure_optimizers()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        objective.train_iteration(torch.randn(2, 8, 4), opt_g, opt_d, torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        expected = after_step[0](probe).float()  # step 1's weights, cast afresh
    assert not torch.allclose(seen[0], expected)  # step 1 moved the weights
    torch.testing.assert_close(seen[1], expected, rtol=0, atol=0)
