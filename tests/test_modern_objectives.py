"""RpGAN + R1 + R2, RaGAN, lazy regularisation (objective.penalty_every) and the critic's augmentation
(objective.augment), through the step engine: against hand computations on tiny nets, and trained through Hydra."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import DIGITS, compose_config
from wgangp.checkpoints import load_checkpoint
from wgangp.objectives.engine import critic_terms, generator_terms
from wgangp.objectives.ragan import RaGAN
from wgangp.objectives.rpgan import RpGANR1R2
from wgangp.objectives.wgan_gp import WGANGP
from wgangp.train import train


class TinyImageGenerator(nn.Module):
    def __init__(self, latent_dim: int = 4, shape=(1, 8, 8)) -> None:
        super().__init__()
        self.latent_dim, self.data_shape = latent_dim, shape
        self.net = nn.Linear(latent_dim, int(torch.tensor(shape).prod()))

    def forward(self, z):
        return torch.tanh(self.net(z)).view(z.size(0), *self.data_shape)


class TinyImageCritic(nn.Module):
    def __init__(self, shape=(1, 8, 8)) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(int(torch.tensor(shape).prod()), 8), nn.Tanh(), nn.Linear(8, 1)
        )

    def forward(self, x):
        return self.net(x)


def _objective(cls, **kwargs):
    torch.manual_seed(0)
    return cls(generator=TinyImageGenerator(), critic=TinyImageCritic(), optimizer=torch.optim.Adam, **kwargs)


def _batch(m=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(m, 1, 8, 8, generator=g) * 2 - 1, torch.rand(m, 1, 8, 8, generator=g) * 2 - 1


def _grad_sq_norms(critic, x):
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return grad.flatten(1).pow(2).sum(1)


# ---- RpGAN + R1 + R2 and RaGAN -----------------------------------------------------------------------------------
def test_rpgan_r1r2_critic_loss_is_the_pairing_loss_plus_half_gamma_r1_plus_r2():
    objective = _objective(RpGANR1R2, gamma=3.0)
    real, fake = _batch()
    terms = critic_terms(objective, real, fake, torch.Generator().manual_seed(0))
    d = objective.critic
    r1, r2 = _grad_sq_norms(d, real).mean(), _grad_sq_norms(d, fake).mean()
    pairing = F.softplus(d(fake).flatten() - d(real).flatten()).mean()  # E softplus(-(D(x_i) - D(G(z_i))))
    torch.testing.assert_close(terms["r1_penalty"], r1)
    torch.testing.assert_close(terms["r2_penalty"], r2)  # R2: the gradient at the fakes, not at the reals
    assert not torch.allclose(r1, r2)
    torch.testing.assert_close(terms["critic_loss"], pairing + 1.5 * (r1 + r2))


def test_rpgan_generator_loss_pairs_each_fake_with_a_real_and_reaches_the_generator():
    objective = _objective(RpGANR1R2)
    real, _ = _batch()
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    terms = generator_terms(objective, real, z)
    fake = objective.generator(z)
    expected = F.softplus(objective.critic(real).flatten() - objective.critic(fake).flatten()).mean()
    torch.testing.assert_close(terms["generator_loss"], expected)
    terms["generator_loss"].backward()
    assert objective.generator.net.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="generator_batch_size=null"):
        _objective(RpGANR1R2, generator_batch_size=12)


def test_ragan_losses_are_the_relativistic_average_ones_on_logits():
    objective = _objective(RaGAN)
    real, fake = _batch()
    d_real, d_fake = objective.critic(real).flatten(), objective.critic(fake).flatten()
    critic = critic_terms(objective, real, fake, torch.Generator())["critic_loss"]
    by_hand = (
        -torch.log(torch.sigmoid(d_real - d_fake.mean())).mean()
        - torch.log(1 - torch.sigmoid(d_fake - d_real.mean())).mean()
    )
    torch.testing.assert_close(critic, by_hand)
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    generator = generator_terms(objective, real, z)["generator_loss"]
    g_fake = objective.critic(objective.generator(z)).flatten()
    mirror = (
        -torch.log(torch.sigmoid(g_fake - d_real.mean())).mean()
        - torch.log(1 - torch.sigmoid(d_real - g_fake.mean())).mean()
    )
    torch.testing.assert_close(generator, mirror)


# ---- lazy regularisation -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, name", [(WGANGP, "gradient_penalty"), (RpGANR1R2, "r1_penalty")])
def test_a_lazy_penalty_is_k_times_the_plain_one_on_its_steps_and_absent_on_the_others(cls, name):
    k = 3
    plain, lazy = _objective(cls), _objective(cls, penalty_every=k, n_critic=2)
    real, fake = _batch()
    expected = critic_terms(plain, real, fake, torch.Generator().manual_seed(5))[name]
    runs = []
    for iteration in range(3):  # critic steps 0..5 of the run: 0 and 3 regularise
        lazy.generator_iter = iteration
        for t in range(2):
            scale = lazy.penalty_scale(t)
            terms = critic_terms(lazy, real, fake, torch.Generator().manual_seed(5), None, scale)
            runs.append((iteration * 2 + t, terms[name], "grad_norm" in terms))
    for step, penalty, has_norms in runs:
        if step % k == 0:
            torch.testing.assert_close(penalty, k * expected)
            assert has_norms or cls is RpGANR1R2
        else:
            assert float(penalty) == 0.0 and not has_norms


def test_the_lazy_penalty_draws_nothing_on_the_steps_it_skips():
    objective = _objective(WGANGP, penalty_every=2)
    real, fake = _batch()
    rng = torch.Generator().manual_seed(0)
    before = rng.get_state()
    critic_terms(objective, real, fake, rng, None, 0.0)
    assert torch.equal(rng.get_state(), before)


# ---- the critic's augmentation -----------------------------------------------------------------------------------
@pytest.mark.parametrize("augment", ["diffaugment", "ada"])
def test_the_critic_sees_augmented_images_and_the_generator_gradient_flows_through_them(augment):
    objective = _objective(WGANGP, augment=augment)
    if augment == "ada":
        objective.view.ada._p = torch.tensor(1.0)  # every transform on every sample
    objective.view.start_iteration(0, torch.device("cpu"))
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    terms = generator_terms(objective, _batch()[0], z)
    plain = -objective.critic(objective.generator(z)).mean()
    assert not torch.allclose(terms["generator_loss"], plain)  # D saw something else than G(z)
    terms["generator_loss"].backward()
    assert objective.generator.net.weight.grad.abs().sum() > 0


def test_augmentation_draws_are_the_iterations_own_so_a_resume_redraws_them():
    objective = _objective(WGANGP, augment="diffaugment")
    x = _batch()[0]
    seen = []
    for _ in range(2):
        objective.view.start_iteration(7, torch.device("cpu"))
        seen.append(objective.view(x))
    objective.view.start_iteration(8, torch.device("cpu"))
    assert torch.equal(seen[0], seen[1]) and not torch.equal(seen[0], objective.view(x))


def test_ada_p_rises_on_a_critic_sure_of_the_reals_and_falls_on_one_that_is_not():
    # a Wasserstein critic's scores have no zero, so ADA reads the sign of D(real) - E[D(fake)]: a critic that
    # ranks every real above the fakes is overfitting (p rises), one that ranks them below is not (p falls)
    for real_level, direction in ((1.0, 1), (-1.0, -1)):
        objective = _objective(WGANGP, augment="ada", ada_kimg=0.024)  # a step of 6 * 4 / 24 = 1 per interval
        with torch.no_grad():  # D(x) = 10 x the mean pixel, whatever the augmentation does to the images
            objective.critic.net[1].weight.fill_(1.0 / 64)
            objective.critic.net[1].bias.zero_()
            objective.critic.net[-1].weight.fill_(10.0 / 8)
            objective.critic.net[-1].bias.fill_(5.0)  # an offset the loss cannot see
        objective.view.ada._p = torch.tensor(0.5)
        objective.view.start_iteration(0, torch.device("cpu"))
        real, fake = torch.full((6, 1, 8, 8), real_level), torch.full((6, 1, 8, 8), -real_level)
        for _ in range(4):  # one ADA interval of critic steps
            critic_terms(objective, real, fake, torch.Generator().manual_seed(0))
        assert float(objective.view.ada.p) == (1.0 if direction > 0 else 0.0)


def test_augmentation_of_non_images_is_refused_before_training():
    from wgangp.nets.mlp import MLPCritic, MLPGenerator

    with pytest.raises(ValueError, match="objective.augment=none with toy or text data"):
        WGANGP(generator=MLPGenerator((2,), 2, 8), critic=MLPCritic((2,), 8), optimizer=None, augment="diffaugment")


# ---- through Hydra ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides",
    [
        ["objective=rpgan_r1r2", "objective.penalty_every=2"],
        ["objective=wgan_gp", "objective.penalty_every=3", "objective.n_critic=1"],  # iterations without grad norms
        ["objective=ragan", "objective.augment=diffaugment"],
        ["objective=wgan_gp", "objective.augment=ada", "objective.n_critic=2"],
    ],
)
def test_each_technique_trains_on_digits_and_resumes_exactly(tmp_path, overrides):
    common = [*DIGITS, "model=dcgan", *overrides]
    train(compose_config(tmp_path / "full", [*common, "generator_iters=4"]))
    train(compose_config(tmp_path / "half", [*common, "generator_iters=2"]))
    half = tmp_path / "half/checkpoints/last.ckpt"
    train(compose_config(tmp_path / "resumed", [*common, "generator_iters=4", f"ckpt_path={half}"]))
    full, resumed = (load_checkpoint(tmp_path / r / "checkpoints/last.ckpt") for r in ("full", "resumed"))
    for key, value in full["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    assert full["wgangp"]["critic_view"].keys() == resumed["wgangp"]["critic_view"].keys()
    if "objective.augment=ada" in overrides:
        assert torch.equal(full["wgangp"]["critic_view"]["ada"]["p"], resumed["wgangp"]["critic_view"]["ada"]["p"])
