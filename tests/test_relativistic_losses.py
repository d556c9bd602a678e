"""The relativistic losses (RpGAN, RaSGAN) against hand computations on fixed discriminator outputs."""

import math

import pytest
import torch

from wgangp import losses

D_REAL = [2.0, -1.0, 0.5]
D_FAKE = [-3.0, 0.0, 1.5]


def softplus(a: float) -> float:
    return math.log(1 + math.exp(a))


def log_sigmoid(a: float) -> float:
    return -math.log(1 + math.exp(-a))


def mean(xs) -> float:
    return sum(xs) / len(xs)


def t(xs, *shape):
    return torch.tensor(xs, dtype=torch.float64).reshape(*(shape or (-1,)))


def test_rpgan_losses_pair_real_i_with_fake_i():
    # critic: -mean_i log sigmoid(r_i - f_i) over the pairs (2, -3), (-1, 0), (0.5, 1.5)
    critic = mean([-log_sigmoid(2 + 3), -log_sigmoid(-1 - 0), -log_sigmoid(0.5 - 1.5)])
    generator = mean([-log_sigmoid(-3 - 2), -log_sigmoid(0 + 1), -log_sigmoid(1.5 - 0.5)])
    torch.testing.assert_close(
        losses.rpgan_critic_loss(t(D_REAL), t(D_FAKE)), torch.tensor(critic, dtype=torch.float64)
    )
    torch.testing.assert_close(
        losses.rpgan_generator_loss(t(D_REAL), t(D_FAKE)), torch.tensor(generator, dtype=torch.float64)
    )
    # pairing matters: a permutation of the fakes changes the loss (an all-pairs mean would not)
    assert not torch.isclose(
        losses.rpgan_critic_loss(t(D_REAL), t(D_FAKE[::-1])), losses.rpgan_critic_loss(t(D_REAL), t(D_FAKE))
    )


def test_ragan_losses_compare_each_sample_with_the_other_batch_mean():
    mr, mf = mean(D_REAL), mean(D_FAKE)  # 0.5, -0.5
    # -E[log sigmoid(r - E f)] - E[log(1 - sigmoid(f - E r))]; log(1 - sigmoid(a)) = log sigmoid(-a)
    critic = mean([-log_sigmoid(r - mf) for r in D_REAL]) + mean([-log_sigmoid(-(f - mr)) for f in D_FAKE])
    generator = mean([-log_sigmoid(f - mr) for f in D_FAKE]) + mean([-log_sigmoid(-(r - mf)) for r in D_REAL])
    torch.testing.assert_close(
        losses.ragan_critic_loss(t(D_REAL), t(D_FAKE)), torch.tensor(critic, dtype=torch.float64)
    )
    torch.testing.assert_close(
        losses.ragan_generator_loss(t(D_REAL), t(D_FAKE)), torch.tensor(generator, dtype=torch.float64)
    )
    # the same through softplus written out: one number, computed by hand
    by_hand = (softplus(-(2 + 0.5)) + softplus(-(-1 + 0.5)) + softplus(-(0.5 + 0.5))) / 3 + (
        softplus(-3 - 0.5) + softplus(0 - 0.5) + softplus(1.5 - 0.5)
    ) / 3
    assert math.isclose(critic, by_hand, rel_tol=1e-12)


def test_ragan_accepts_batches_of_different_sizes():
    real, fake = [1.0, 2.0], [0.0, -1.0, 4.0]
    mr, mf = 1.5, 1.0
    expected = mean([softplus(mf - r) for r in real]) + mean([softplus(f - mr) for f in fake])
    torch.testing.assert_close(losses.ragan_critic_loss(t(real), t(fake)), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["rpgan", "ragan"])
def test_generator_loss_is_the_critic_loss_with_roles_swapped(kind):
    critic, generator = getattr(losses, f"{kind}_critic_loss"), getattr(losses, f"{kind}_generator_loss")
    rng = torch.Generator().manual_seed(0)
    r, f = torch.randn(16, generator=rng), 3 * torch.randn(16, generator=rng)
    torch.testing.assert_close(generator(r, f), critic(f, r))


@pytest.mark.parametrize("kind", ["rpgan", "ragan"])
@pytest.mark.parametrize("shape", [(3,), (3, 1)])
def test_shapes_n_and_n_by_1_give_the_same_scalar(kind, shape):
    for fn in (getattr(losses, f"{kind}_critic_loss"), getattr(losses, f"{kind}_generator_loss")):
        flat = fn(t(D_REAL), t(D_FAKE))
        out = fn(t(D_REAL, *shape), t(D_FAKE, *shape))
        assert out.shape == ()
        torch.testing.assert_close(out, flat)
        # mixed (N,) and (N, 1) must not broadcast into an (N, N) all-pairs matrix
        torch.testing.assert_close(fn(t(D_REAL, 3), t(D_FAKE, 3, 1)), flat)


def test_rpgan_refuses_unpaired_batches():
    with pytest.raises(ValueError, match="one fake per real"):
        losses.rpgan_critic_loss(torch.zeros(4), torch.zeros(3))


@pytest.mark.parametrize("kind", ["rpgan", "ragan"])
def test_gradient_signs(kind):
    """The critic loss falls as D(real) rises and D(fake) falls; the generator's falls as D(fake) rises."""
    critic, generator = getattr(losses, f"{kind}_critic_loss"), getattr(losses, f"{kind}_generator_loss")
    r = t(D_REAL).requires_grad_(True)
    f = t(D_FAKE).requires_grad_(True)
    g_r, g_f = torch.autograd.grad(critic(r, f), (r, f))
    assert (g_r < 0).all() and (g_f > 0).all()
    g_r, g_f = torch.autograd.grad(generator(r, f), (r, f))
    assert (g_f < 0).all() and (g_r > 0).all()


def test_rpgan_gradient_is_minus_sigmoid_of_the_negated_margin():
    # d/dr softplus(f - r) = -sigmoid(f - r), divided by N for the mean
    r = t(D_REAL).requires_grad_(True)
    (g,) = torch.autograd.grad(losses.rpgan_critic_loss(r, t(D_FAKE)), r)
    expected = [-1 / (1 + math.exp(-(f - x))) / 3 for x, f in zip(D_REAL, D_FAKE, strict=True)]
    torch.testing.assert_close(g, t(expected))


@pytest.mark.parametrize("kind", ["rpgan", "ragan"])
def test_losses_stay_finite_for_confident_logits(kind):
    big = torch.tensor([200.0, -200.0, 150.0])
    for fn in (getattr(losses, f"{kind}_critic_loss"), getattr(losses, f"{kind}_generator_loss")):
        for r, f in ((big, -big), (-big, big)):
            assert torch.isfinite(fn(r, f))
    # a critic that separates perfectly pays (almost) nothing; the generator pays the margin
    torch.testing.assert_close(
        losses.rpgan_critic_loss(torch.tensor([100.0]), torch.tensor([-100.0])), torch.tensor(0.0)
    )
    torch.testing.assert_close(
        losses.rpgan_generator_loss(torch.tensor([100.0]), torch.tensor([-100.0])), torch.tensor(200.0)
    )
