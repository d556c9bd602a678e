"""Every loss and regulariser against its closed form on fixed discriminator outputs."""

import math

import pytest
import torch

from wgangp import losses
from wgangp.penalties import gradient_penalty, r1_penalty

D_REAL = torch.tensor([2.0, -1.0, 0.5])
D_FAKE = torch.tensor([-3.0, 0.0, 1.5])


def log_sigmoid(a):
    return math.log(1 / (1 + math.exp(-a)))


def mean(xs):
    return torch.tensor(sum(xs) / len(xs))


def test_wasserstein_losses():
    torch.testing.assert_close(losses.wasserstein_critic_loss(D_REAL, D_FAKE), torch.tensor(-0.5 - 0.5))
    torch.testing.assert_close(losses.wasserstein_generator_loss(D_FAKE), torch.tensor(0.5))


def test_standard_gan_losses_on_logits():
    expected_d = mean([-log_sigmoid(a) for a in D_REAL.tolist()]) + mean(
        [-math.log(1 - math.exp(log_sigmoid(a))) for a in D_FAKE.tolist()]
    )
    torch.testing.assert_close(losses.gan_discriminator_loss(D_REAL, D_FAKE), expected_d)
    torch.testing.assert_close(losses.gan_generator_loss(D_FAKE), mean([-log_sigmoid(a) for a in D_FAKE.tolist()]))
    saturating = mean([math.log(1 - math.exp(log_sigmoid(a))) for a in D_FAKE.tolist()])
    torch.testing.assert_close(losses.gan_generator_loss(D_FAKE, saturating=True), saturating)


def test_standard_gan_losses_stay_finite_for_confident_logits():
    big = torch.tensor([200.0, -200.0])
    assert torch.isfinite(losses.gan_discriminator_loss(big, -big))
    assert torch.isfinite(losses.gan_generator_loss(-big, saturating=True))


def test_saturating_generator_gradient_vanishes_where_non_saturating_does_not():
    d_fake = torch.tensor([-10.0], requires_grad=True)  # D confidently rejects the sample
    (g_sat,) = torch.autograd.grad(losses.gan_generator_loss(d_fake, saturating=True), d_fake)
    (g_ns,) = torch.autograd.grad(losses.gan_generator_loss(d_fake), d_fake)
    assert g_sat.abs() < 1e-4 < 0.99 < g_ns.abs()


def test_least_squares_losses():
    expected_d = 0.5 * mean([(a - 1) ** 2 for a in D_REAL.tolist()]) + 0.5 * mean([a**2 for a in D_FAKE.tolist()])
    torch.testing.assert_close(losses.least_squares_discriminator_loss(D_REAL, D_FAKE), expected_d)
    expected_g = 0.5 * mean([(a - 1) ** 2 for a in D_FAKE.tolist()])
    torch.testing.assert_close(losses.least_squares_generator_loss(D_FAKE), expected_g)


def test_hinge_losses():
    expected = mean([max(0, 1 - a) for a in D_REAL.tolist()]) + mean([max(0, 1 + a) for a in D_FAKE.tolist()])
    torch.testing.assert_close(losses.hinge_discriminator_loss(D_REAL, D_FAKE), expected)
    torch.testing.assert_close(losses.hinge_generator_loss(D_FAKE), torch.tensor(0.5))


def test_r1_is_the_mean_squared_gradient_norm_on_real_data_only():
    # D(x) = 0.5 * ||x||^2 has gradient x, so R1 = E||x_real||^2, whatever the fakes are.
    real = torch.randn(6, 3, 2, 2)
    quadratic = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)
    torch.testing.assert_close(r1_penalty(quadratic, real), real.flatten(1).pow(2).sum(1).mean())


@pytest.mark.parametrize("scale", [0.3, 0.9])
def test_one_sided_penalty_is_zero_with_zero_gradient_below_norm_one(scale):
    w = torch.randn(8)
    w = (scale * w / w.norm()).requires_grad_(True)  # ||grad D|| = scale < 1 everywhere
    gp = gradient_penalty(lambda x: x.flatten(1) @ w, torch.randn(5, 2, 4), torch.randn(5, 2, 4), one_sided=True)
    (grad,) = torch.autograd.grad(gp, w)
    assert gp.item() == 0.0 and torch.count_nonzero(grad) == 0
    two_sided = gradient_penalty(lambda x: x.flatten(1) @ w, torch.randn(5, 2, 4), torch.randn(5, 2, 4))
    torch.testing.assert_close(two_sided, torch.tensor((scale - 1) ** 2))
