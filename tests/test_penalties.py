import pytest
import torch
from torch import nn

from wgangp.penalties import gradient_penalty, input_gradient_norms, interpolate


def linear_critic(norm: float, dim: int = 12, seed: int = 0):
    w = torch.randn(dim, generator=torch.Generator().manual_seed(seed))
    w = norm * w / w.norm()
    return (lambda x: x.flatten(1) @ w), w


def test_linear_critic_has_gradient_norm_w_everywhere():
    critic, _ = linear_critic(3.0)
    real, fake = torch.randn(8, 3, 2, 2), torch.randn(8, 3, 2, 2)
    torch.testing.assert_close(gradient_penalty(critic, real, fake), torch.tensor(4.0))  # (3 - 1)^2
    torch.testing.assert_close(gradient_penalty(critic, real, fake, one_sided=True), torch.tensor(4.0))


def test_quadratic_critic_gradient_is_the_interpolate():
    # D(x) = ||x||^2 / 2 has grad D(x_hat) = x_hat, so the penalty is mean((||x_hat|| - 1)^2).
    critic = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    eps = torch.rand(6)
    x_hat = eps.view(6, 1, 1, 1) * real + (1 - eps.view(6, 1, 1, 1)) * fake
    expected = (x_hat.flatten(1).norm(dim=1) - 1).pow(2).mean()
    torch.testing.assert_close(gradient_penalty(critic, real, fake, eps=eps), expected)
    torch.testing.assert_close(input_gradient_norms(critic, x_hat), x_hat.flatten(1).norm(dim=1))


def test_eps_is_one_weight_per_sample_broadcast_over_all_dims():
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    eps = torch.tensor([0.0, 1.0, 0.5, 0.25, 0.9])
    x_hat = interpolate(real, fake, eps)
    for i in range(5):
        torch.testing.assert_close(x_hat[i], eps[i] * real[i] + (1 - eps[i]) * fake[i])
    torch.testing.assert_close(x_hat[0], fake[0])
    torch.testing.assert_close(x_hat[1], real[1])


def test_default_eps_is_uniform_and_per_sample():
    torch.manual_seed(0)
    real, fake = torch.ones(4000, 3, 2, 2), torch.zeros(4000, 3, 2, 2)
    x_hat = interpolate(real, fake)  # = eps broadcast
    per_sample = x_hat.flatten(1)
    assert torch.equal(per_sample.min(1).values, per_sample.max(1).values)  # one eps per sample
    eps = per_sample[:, 0]
    assert 0.0 <= eps.min() and eps.max() <= 1.0
    assert abs(eps.mean().item() - 0.5) < 0.02 and abs(eps.var().item() - 1 / 12) < 0.01


def test_norm_is_per_sample_not_over_the_batch():
    # Every sample's gradient has norm 2; a norm over the whole batch would give 2 * sqrt(7).
    u = torch.randn(12)
    u = u / u.norm()
    critic = lambda x: 2.0 * (x.flatten(1) @ u)
    norms = input_gradient_norms(critic, torch.randn(7, 3, 2, 2))
    torch.testing.assert_close(norms, torch.full((7,), 2.0))


def test_one_sided_is_zero_and_gives_no_gradient_below_one():
    w = torch.randn(12)
    w = (0.5 * w / w.norm()).requires_grad_(True)
    critic = lambda x: x.flatten(1) @ w
    real, fake = torch.randn(8, 12), torch.randn(8, 12)
    one = gradient_penalty(critic, real, fake, one_sided=True)
    assert one.item() == 0.0
    one.backward()
    assert torch.count_nonzero(w.grad) == 0
    two = gradient_penalty(critic, real, fake)
    torch.testing.assert_close(two, torch.tensor(0.25))  # (0.5 - 1)^2


def test_penalty_gradient_reaches_critic_weights_through_double_backward():
    # For D(x) = w.x the penalty is (||w|| - 1)^2 and its gradient is 2 (||w|| - 1) w / ||w||.
    w = (torch.randn(10) * 0.7).requires_grad_(True)
    critic = lambda x: x @ w
    gradient_penalty(critic, torch.randn(16, 10), torch.randn(16, 10)).backward()
    with torch.no_grad():
        expected = 2 * (w.norm() - 1) * w / w.norm()
    torch.testing.assert_close(w.grad, expected)


def test_zero_gradient_stays_finite():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        net[0].bias.fill_(-100.0)  # every ReLU is off: D is constant, its input gradient is exactly 0
    gp = gradient_penalty(net, torch.randn(16, 4), torch.randn(16, 4))
    torch.testing.assert_close(gp, torch.tensor(1.0))  # (0 - 1)^2
    gp.backward()
    for p in net.parameters():
        assert p.grad is None or torch.isfinite(p.grad).all()


def test_works_on_any_input_shape_and_keeps_real_fake_untouched():
    critic = lambda x: x.flatten(1).sum(1)  # gradient of all ones: norm sqrt(numel per sample)
    for shape in [(4, 2), (4, 27, 32), (4, 3, 8, 8), (4, 2, 3, 4, 5)]:
        real, fake = torch.randn(shape), torch.randn(shape, requires_grad=True)
        n = torch.tensor(shape[1:]).prod().float()
        torch.testing.assert_close(gradient_penalty(critic, real, fake), (n.sqrt() - 1) ** 2)
        assert fake.grad is None


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="same shape"):
        interpolate(torch.randn(4, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match="one weight per sample"):
        interpolate(torch.randn(4, 2), torch.randn(4, 2), torch.rand(4, 1))
