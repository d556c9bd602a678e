"""The other Lipschitz tools of the R1 note: spectral normalisation of every critic and the
adaptive penalty weight. Gradients through the parametrisation against finite differences, its buffers
in checkpoints and in eval mode, the adaptive lambda on a linear critic, and each option trained."""

import csv
import logging

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from torch import nn
from torch.nn.utils import parametrize

from conftest import TINY, compose_config, conf_options, run_cli
from wgangp.config_checks import config_problems
from wgangp.evaluation.base import eval_mode
from wgangp.losses import gan_discriminator_loss, wasserstein_critic_loss
from wgangp.nets.dcgan import DCGANCritic
from wgangp.nets.layers import WEIGHT_LAYERS, has_spectral_norm, spectral_normalize
from wgangp.nets.mlp import MLPCritic, MLPGenerator
from wgangp.objectives.engine import critic_terms
from wgangp.objectives.gan_gp import GANGP
from wgangp.objectives.wgan_clip import WGANClip
from wgangp.objectives.wgan_gp import WGANGP
from wgangp.penalties import gradient_penalty
from wgangp.train import train


def _buffers(critic):
    return {k: v.clone() for k, v in critic.state_dict().items() if k.endswith(("._u", "._v"))}


# ---- spectral normalisation --------------------------------------------------------------------------------
# A shape each model's critic builds at, tried in order, with the fields that make it small.
SHAPES = [(2,), (1, 28, 28), (3, 64, 64), (5, 8)]
SMALL = {"width": 8, "base_filters": 2, "channels": 4, "dim": 4, "blocks": 1}


def _small_sn_critic(name):
    critic_cfg = compose_config("unused", [f"model={name}", "model.critic.spectral_norm=true"]).model.critic
    small = {k: v for k, v in SMALL.items() if k in critic_cfg}
    for shape in SHAPES:
        try:
            # class-conditional critics (wgangp.nets.conditional) are built with the data's classes
            classes = {"num_classes": 10} if getattr(get_class(critic_cfg._target_), "needs_labels", False) else {}
            return instantiate(critic_cfg, data_shape=shape, uses_penalty=True, **small, **classes), shape
        except InstantiationException as e:
            if not isinstance(e.__cause__, ValueError):
                raise
    raise AssertionError(f"model={name}: its critic builds at none of {SHAPES}")


@pytest.mark.parametrize("name", conf_options("model"))
def test_every_critic_divides_every_weight_layer_by_its_power_iteration_sigma(name):
    torch.manual_seed(0)
    critic, shape = _small_sn_critic(name)
    layers = [m for m in critic.modules() if isinstance(m, WEIGHT_LAYERS)]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers) and has_spectral_norm(critic)
    critic.eval()
    for m in layers:  # W = W_raw / (u^T W_raw v), W_raw as the matrix (C_out, rest)
        sn = m.parametrizations.weight[0]
        raw = m.parametrizations.weight.original
        sigma = sn._u @ sn._reshape_weight_to_matrix(raw) @ sn._v
        torch.testing.assert_close(m.weight, raw / sigma)
    x = torch.randn(3, *shape).softmax(1) if len(shape) == 2 and shape[0] == 5 else torch.randn(3, *shape)
    if getattr(critic, "takes_labels", False):  # D(., y) at fixed labels, as GANObjective.critic_given
        labels = torch.arange(3) % critic.num_classes
        critic_of_x = lambda inputs: critic(inputs, labels)  # noqa: E731
    elif hasattr(critic, "scores_and_logits"):  # AC-GAN: reach the classifier head too
        critic_of_x = lambda inputs: sum(t.reshape(len(t), -1).sum(1) for t in critic.scores_and_logits(inputs))  # noqa: E731
    else:
        critic_of_x = critic
    critic.train()
    (gradient_penalty(critic_of_x, x, torch.randn_like(x)) + critic_of_x(x).sum()).backward()  # double backward
    assert all(m.parametrizations.weight.original.grad is not None for m in layers)


def test_power_iteration_converges_to_a_largest_singular_value_of_one():
    critic = spectral_normalize(MLPCritic((2,), width=16, hidden_layers=2))
    x = torch.randn(4, 2)
    for _ in range(100):  # one power iteration per train-mode forward
        critic(x)
    for m in critic.net:
        if isinstance(m, nn.Linear):
            torch.testing.assert_close(torch.linalg.matrix_norm(m.weight.detach(), ord=2), torch.tensor(1.0))


def test_eval_mode_runs_no_power_iteration_and_train_mode_one_per_forward():
    critic = spectral_normalize(MLPCritic((2,), width=8, hidden_layers=1))
    x, before = torch.randn(4, 2), _buffers(critic)
    with torch.no_grad(), eval_mode(critic):  # what every evaluator gets (wgangp.evaluation.callback)
        critic(x)
    assert all(torch.equal(v, before[k]) for k, v in _buffers(critic).items())
    critic(x)
    assert any(not torch.equal(v, before[k]) for k, v in _buffers(critic).items())


def _penalty64(critic, real, fake, eps):
    """Eq. 3's penalty kept in float64 throughout (wgangp.penalties takes the norm in fp32, which is right for
    training and too coarse for finite differences)."""
    x = torch.lerp(fake, real, eps.view(-1, *[1] * (real.dim() - 1))).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def _fd_check(critic, params, n_coords, seed=0):
    """Autograd gradient of the WGAN-GP critic loss (the penalty's double backward included) vs central
    differences, float64, the critic in eval mode: u, v fixed, so the loss is one function of the weights."""
    g = torch.Generator().manual_seed(seed)
    shape = critic.data_shape
    real, fake = (torch.randn(6, *shape, generator=g, dtype=torch.float64) for _ in range(2))
    eps = torch.rand(6, generator=g, dtype=torch.float64)

    def loss():
        return wasserstein_critic_loss(critic(real), critic(fake)) + 10 * _penalty64(critic, real, fake, eps)

    grads = torch.autograd.grad(loss(), params)
    h = 1e-6
    for p, grad in zip(params, grads, strict=True):
        flat = p.data.view(-1)
        for i in torch.randperm(flat.numel(), generator=g)[:n_coords].tolist():
            old = flat[i].item()
            flat[i] = old + h
            up = loss().item()
            flat[i] = old - h
            down = loss().item()
            flat[i] = old
            torch.testing.assert_close(grad.reshape(-1)[i].item(), (up - down) / (2 * h), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("net", ["mlp", "dcgan"])
def test_sn_parameter_gradients_under_the_penalty_double_backward_match_finite_differences(net):
    """The forward depends on u, v too, and a train-mode forward moves them (one power iteration): finite
    differences in train mode would compare different functions. In eval mode u, v are constants, as
    autograd treats them in train mode as well; after one train-mode forward the train-mode gradient equals
    the eval-mode gradient at the updated u, v."""
    torch.manual_seed(0)
    if net == "mlp":
        critic = MLPCritic((2,), width=5, hidden_layers=2, spectral_norm=True).double()
        n_coords = 100  # every coordinate
    else:
        critic = DCGANCritic((1, 28, 28), base_filters=2, norm="none", spectral_norm=True).double()
        n_coords = 6  # per parameter tensor
    params = list(critic.parameters())
    assert any(n.endswith("parametrizations.weight.original") for n, _ in critic.named_parameters())
    real = torch.randn(4, *critic.data_shape, dtype=torch.float64)
    fake, eps = torch.randn_like(real), torch.rand(4, dtype=torch.float64)
    critic.train()
    penalty_grads = lambda: torch.autograd.grad(gradient_penalty(critic, real, fake, eps), params, allow_unused=True)
    train_grads = penalty_grads()  # its forward moved u, v once, before using them
    critic.eval()
    for a, b in zip(train_grads, penalty_grads(), strict=True):  # the last bias is not in the penalty: None
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)
    _fd_check(critic, params, n_coords)


def test_a_spectrally_normalised_checkpoint_resumes_bit_exactly(tiny_config, tmp_path):
    sn = ["model.critic.spectral_norm=true"]
    train(tiny_config(*sn, "generator_iters=4", run_dir=tmp_path / "full"))
    train(tiny_config(*sn, "generator_iters=2", run_dir=tmp_path / "first"))
    first = tmp_path / "first/checkpoints/last.ckpt"
    train(tiny_config(*sn, "generator_iters=4", f"ckpt_path={first}", run_dir=tmp_path / "resumed"))
    load = lambda run: torch.load(tmp_path / run / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    full, resumed, half = load("full")["state_dict"], load("resumed")["state_dict"], load("first")["state_dict"]
    vectors = [k for k in full if k.endswith(("._u", "._v"))]
    assert len(vectors) == 2 * 4  # u and v of the toy critic's four Linear layers, in the checkpoint
    assert full.keys() == resumed.keys()
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    # they moved after the stop (not the last layer's u: its matrix has one row, so u is always [1])
    assert all(not torch.equal(full[k], half[k]) for k in vectors if full[k].numel() > 1)


def test_batch_norm_next_to_spectral_norm_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING):
        DCGANCritic((1, 28, 28), base_filters=2, norm="batch", spectral_norm=True)
    assert "BatchNorm2d" in caplog.text and "model.critic.norm=none" in caplog.text


def test_wgan_without_clipping_or_spectral_norm_warns_that_nothing_bounds_the_critic(caplog):
    g = MLPGenerator((2,), latent_dim=2, width=8, tanh=False)
    with caplog.at_level(logging.WARNING, logger="wgangp"):
        WGANClip(generator=g, critic=MLPCritic((2,), width=8, spectral_norm=True), optimizer=None, clip_value=None)
        assert not caplog.records
        WGANClip(generator=g, critic=MLPCritic((2,), width=8), optimizer=None, clip_value=None)
    assert "model.critic.spectral_norm=true" in caplog.text


# ---- the adaptive penalty weight ----------------------------------------------------------------------------
class LinearCritic(nn.Module):
    """D(x) = x . w: ||grad D|| = ||w|| everywhere, so the penalty is (||w|| - 1)^2 exactly."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return x @ self.w


@pytest.mark.parametrize("objective_class", [WGANGP, GANGP])
@pytest.mark.parametrize(
    ("norm", "schedule", "weight"), [(3.0, "adaptive", 4.0), (5.0, "adaptive", 10.0), (3.0, "constant", 10.0)]
)
def test_adaptive_weight_is_the_clipped_penalty_held_constant_in_the_backward(objective_class, norm, schedule, weight):
    """||w|| = 3: penalty 4, lambda 4; ||w|| = 5: penalty 16, lambda clipped to 10. The gradient is the base
    loss's plus lambda * d(penalty)/dw with lambda a constant: 2 lambda (||w|| - 1) w / ||w||, not the
    2 * penalty * d(penalty)/dw of differentiating through lambda."""
    w = torch.tensor([1.0, 2.0, 2.0]) / 3 * norm
    critic = LinearCritic(w.clone())
    g = MLPGenerator((3,), latent_dim=2, width=4, tanh=False)
    objective = objective_class(generator=g, critic=critic, optimizer=None, gp_weight_schedule=schedule)
    real, fake = torch.randn(8, 3), torch.randn(8, 3)
    terms = critic_terms(objective, real, fake, torch.Generator().manual_seed(0))
    torch.testing.assert_close(terms["gradient_penalty"], torch.tensor((norm - 1) ** 2))
    torch.testing.assert_close(terms["gp_weight"], torch.tensor(weight))
    (grad,) = torch.autograd.grad(terms["critic_loss"], critic.w)
    base_loss = wasserstein_critic_loss if objective_class is WGANGP else gan_discriminator_loss
    w_ = w.clone().requires_grad_(True)
    (base,) = torch.autograd.grad(base_loss(real @ w_, fake @ w_), w_)
    torch.testing.assert_close(grad, base + weight * 2 * (norm - 1) * w / norm)


def test_new_fields_are_range_checked(tiny_config):
    bad = tiny_config(
        "objective.gp_weight_schedule=linear", "objective.gp_weight_max=0", "model.critic.spectral_norm=1"
    )
    problems = " ".join(config_problems(bad))
    assert "objective.gp_weight_schedule='linear' is invalid: it must be one of constant, adaptive" in problems
    assert "objective.gp_weight_max=0 is invalid" in problems
    assert "model.critic.spectral_norm=1 is invalid: it must be true or false" in problems
    assert not config_problems(tiny_config("objective=wgan"))  # clip_value: null


# ---- each option trains ---------------------------------------------------------------------------------------
def test_sn_with_the_penalty_and_the_adaptive_weight_train_through_the_cli(tmp_path):
    run = tmp_path / "cli"
    args = [*TINY, "generator_iters=2", "model.critic.spectral_norm=true", "objective.gp_weight_schedule=adaptive"]
    out = run_cli("train.py", *args, f"hydra.run.dir={run}")
    assert out.returncode == 0, out.stderr[-3000:]
    with open(run / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/gp_weight")]
    assert [int(r["step"]) for r in rows] == [1, 2]
    # lambda = clip(penalty, 0, 10) per critic step; both are logged as means over the iteration's steps
    assert all(0 < float(r["train/gp_weight"]) <= 10 for r in rows)
    ckpt = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert any(k.endswith("parametrizations.weight.original") for k in ckpt["state_dict"])


@pytest.mark.parametrize("overrides", [["objective=wgan", "model.critic.spectral_norm=true"], ["experiment=sngan"]])
def test_wgan_and_hinge_train_with_a_spectrally_normalised_critic(tiny_config, tmp_path, overrides):
    cfg = tiny_config(*overrides, "generator_iters=2")
    assert cfg.model.critic.spectral_norm
    metrics = train(cfg)
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert sum(k.endswith("._u") for k in ckpt["state_dict"]) == 4
    assert 0 < float(metrics["val/w1"]) < 10
