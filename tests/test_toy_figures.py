"""Fig. 1 experiments: weight clipping, per-layer gradient norms, and both experiment configs end to end."""

import json
import math
from functools import partial

import torch
from hydra.utils import instantiate
from torch import nn

from conftest import run_cli
from wgangp.experiments.toy_figures import layer_gradient_norms, toy_critic, toy_generator
from wgangp.objectives.wgan_clip import WGANClip
from wgangp.rng import NOISE, step_generator


def test_the_fig_1b_critic_is_he_initialised_and_clipped_by_its_objectives_loop():
    # He-uniform: Var(w) = 2 / fan_in, so the 512-wide layers' weights have std sqrt(2 / 512) = 1/16
    critic = toy_critic(width=512, layers=4)
    torch.testing.assert_close(critic.net[2].weight.std().item(), 1 / 16, rtol=0.02, atol=0)
    assert all(not m.bias.any() for m in critic.modules() if isinstance(m, nn.Linear))
    critic, generator = toy_critic(width=16, layers=4), toy_generator(latent_dim=2, width=16, layers=4)
    before = [m.weight.detach().clone() for m in critic.net if isinstance(m, nn.Linear)]
    objective = WGANClip(
        generator=generator, critic=critic, optimizer=partial(torch.optim.RMSprop, lr=5e-5), n_critic=2, clip_value=0.01
    )
    opt_g, opt_d = objective.configure_optimizers()
    objective.train_iteration(torch.randn(2, 32, 2), opt_g, opt_d, step_generator(0, 0, NOISE))
    assert all(p.abs().max() <= 0.01 for p in critic.parameters())
    after = [m.weight for m in critic.net if isinstance(m, nn.Linear)]
    assert not any(torch.equal(w, w0) for w, w0 in zip(after, before, strict=True))  # the step moved them


def test_layer_gradient_norms_of_a_linear_chain_match_the_closed_form():
    # D = w2 . (W1 x): dL/d(out) is -1/m on real rows and +1/m on fake rows, so its norm is sqrt(2/m);
    # dL/d(layer-1 output) is that times w2 per row: norm sqrt(2/m) * ||w2||.
    m = 8
    critic = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    norms = layer_gradient_norms(critic, torch.randn(m, 2), torch.randn(m, 2))
    expected = torch.tensor([math.sqrt(2 / m) * critic[1].weight.norm().item(), math.sqrt(2 / m)])
    torch.testing.assert_close(norms, expected.double())


def test_gradient_norms_experiment_runs_from_the_command_line(tmp_path):
    run = tmp_path / "gn"
    out = run_cli("train.py", "experiment=toy_gradient_norms", "debug=fast", "task.width=32", f"hydra.run.dir={run}")
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ["gradient_norms.png", "weight_histograms.png"]:
        assert (run / name).stat().st_size > 10_000, name
    curves = json.loads((run / "gradient_norms.json").read_text())
    assert len(curves) == 5 and all(len(c) == 12 for c in curves.values())
    # Sec. 3.2: clipped critics' gradients decay exponentially towards the first layers; penalised ones do not.
    clipped, penalised = curves["weight clipping c=0.01"], curves["gradient penalty"]
    assert clipped[0] / clipped[-1] < 1e-6
    assert 0.1 < penalised[0] / penalised[-1] < 10
    assert all(0 < g < float("inf") for g in curves["spectral norm"])  # a spectrally normalised critic trains too
    rows = (run / "gradient_norms.csv").read_text().splitlines()
    assert len(rows) == 1 + 5  # debug=fast: 4 generator iterations, logged at the last one per method


def test_value_surfaces_experiment_writes_its_figure(tiny_config, tmp_path):
    cfg = tiny_config("experiment=toy_value_surfaces", "task.critic_iters=5", "task.width=16", "task.num_points=50")
    assert cfg.task.batch_size == 16  # debug=fast shrinks the batch
    results = instantiate(cfg.task)(cfg)
    run = tmp_path / "run"
    assert (run / "value_surfaces.png").stat().st_size > 10_000
    assert json.loads((run / "value_surfaces.json").read_text()) == results
    assert len(results) == 6
    # A clipped 4-layer critic is Lipschitz with constant at most prod_i c * sqrt(fan_in * fan_out)
    # (the Frobenius bound of each layer), far below the optimal critic's 1 (Cor. 1).
    bound = (0.01 * math.sqrt(2 * 16)) * (0.01 * 16) ** 2 * (0.01 * math.sqrt(16))
    for dataset in ["8gaussians", "25gaussians", "swissroll"]:
        assert results[f"weight clipping / {dataset}"]["grad_norm_mean"] <= bound
