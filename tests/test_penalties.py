import re

import pytest
import torch
from torch import nn

from wgangp.penalties import gradient_penalty, input_gradient_norms, interpolate, r1_penalty


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


# ---- hostile inputs (docs/failures.md): one scalar per sample, empty batches, integer data, eps, critic shape ----
def test_one_scalar_per_sample_inputs_have_gradient_norm_abs_derivative():
    # (N,) inputs: D(x) = 3x has |dD/dx| = 3 everywhere; D(x) = x^2 / 2 has |dD/dx| = |x|
    real, fake = torch.randn(6), torch.randn(6)
    torch.testing.assert_close(gradient_penalty(lambda x: 3.0 * x, real, fake), torch.tensor(4.0))  # (3 - 1)^2
    torch.testing.assert_close(gradient_penalty(lambda x: (3.0 * x).unsqueeze(1), real, fake), torch.tensor(4.0))
    eps = torch.rand(6)
    x_hat = eps * real + (1 - eps) * fake
    square = lambda x: 0.5 * x.pow(2)
    torch.testing.assert_close(gradient_penalty(square, real, fake, eps=eps), (x_hat.abs() - 1).pow(2).mean())
    torch.testing.assert_close(input_gradient_norms(square, x_hat), x_hat.abs())
    torch.testing.assert_close(r1_penalty(square, real), real.pow(2).mean())
    torch.testing.assert_close(interpolate(real, fake, eps), x_hat)


def test_penalty_gradient_reaches_the_weight_of_a_scalar_critic():
    w = torch.tensor(2.5, requires_grad=True)
    gradient_penalty(lambda x: w * x, torch.randn(5), torch.randn(5)).backward()  # (|w| - 1)^2
    torch.testing.assert_close(w.grad, torch.tensor(3.0))  # 2 (|w| - 1) sign(w)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (0, 1, 4, 4)])
def test_an_empty_batch_is_refused_not_nan(shape):
    critic = lambda x: x.reshape(x.size(0), -1).sum(1)
    empty = torch.randn(shape)
    for call in (
        lambda: gradient_penalty(critic, empty, empty),
        lambda: interpolate(empty, empty),
        lambda: input_gradient_norms(critic, empty),
        lambda: r1_penalty(critic, empty),
    ):
        with pytest.raises(ValueError, match=r"the batch is empty \(\w+ has shape \(0"):
            call()


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
def test_integer_and_bool_inputs_ask_for_floating_point(dtype):
    critic = lambda x: x.float().flatten(1).sum(1)
    data, floats = torch.ones(4, 3, dtype=dtype), torch.zeros(4, 3)
    with pytest.raises(TypeError, match=f"real has dtype {dtype}, but a gradient needs floating-point tensors"):
        gradient_penalty(critic, data, floats)
    with pytest.raises(TypeError, match="fake has dtype .*real.float\\(\\)|fake has dtype .*fake.float\\(\\)"):
        gradient_penalty(critic, floats, data)
    with pytest.raises(TypeError, match="floating-point"):
        interpolate(data, data)
    with pytest.raises(TypeError, match="floating-point"):
        input_gradient_norms(critic, data)
    with pytest.raises(TypeError, match="floating-point"):
        r1_penalty(critic, data)


def test_half_precision_inputs_still_work():
    critic, _ = linear_critic(3.0, dim=6)
    real, fake = torch.randn(4, 6), torch.randn(4, 6)
    gp = gradient_penalty(lambda x: critic(x.float()), real.to(torch.bfloat16), fake.to(torch.bfloat16))
    torch.testing.assert_close(gp, torch.tensor(4.0), rtol=1e-2, atol=0)  # the input gradient is bf16


@pytest.mark.parametrize("eps", [[0.5, 2.0, 0.5, 0.5], [-0.1, 0.5, 0.5, 0.5], [float("nan")] * 4])
def test_eps_outside_the_unit_interval_is_refused(eps):
    critic, _ = linear_critic(3.0, dim=6)
    with pytest.raises(ValueError, match=r"eps must hold interpolation weights in \[0, 1\].*extrapolate"):
        gradient_penalty(critic, torch.randn(4, 6), torch.randn(4, 6), eps=torch.tensor(eps))


def test_eps_of_the_wrong_shape_or_type_is_refused_and_the_endpoints_are_accepted():
    critic = lambda x: 0.5 * x.pow(2).sum(1)
    real, fake = torch.randn(4, 6), torch.randn(4, 6)
    for eps in (torch.rand(4, 1), torch.rand(3), torch.tensor(0.5)):
        with pytest.raises(ValueError, match="one weight per sample"):
            gradient_penalty(critic, real, fake, eps=eps)
    with pytest.raises(TypeError, match="floating-point weights"):
        gradient_penalty(critic, real, fake, eps=torch.tensor([0, 1, 0, 1]))
    # eps = 1 interpolates to the real samples, 0 to the fake ones: the gradient of D is x itself
    torch.testing.assert_close(
        gradient_penalty(critic, real, fake, eps=[1.0, 1.0, 0.0, 0.0]),
        (torch.cat([real[:2], fake[2:]]).norm(dim=1) - 1).pow(2).mean(),
    )


def test_the_training_path_does_not_check_eps_values():
    # interpolate (called by the loop with its own eps in [0, 1)) only checks shapes, never reads eps
    real, fake = torch.zeros(2, 3), torch.ones(2, 3)
    torch.testing.assert_close(interpolate(real, fake, torch.tensor([2.0, 0.0])), torch.tensor([[-1.0] * 3, [1.0] * 3]))


@pytest.mark.parametrize(
    ("critic", "shape"),
    [
        (lambda x: x[:, :2], "(4, 2)"),  # two scores per sample would be summed into one
        (lambda x: x.sum(), "()"),  # one score for the whole batch
        (lambda x: x.sum(1, keepdim=True).repeat(2, 1), "(8, 1)"),
        (lambda x: x.unsqueeze(1), "(4, 1, 3)"),
    ],
)
def test_a_critic_must_give_one_score_per_sample(critic, shape):
    real, fake = torch.randn(4, 3), torch.randn(4, 3)
    message = rf"critic returned scores of shape {re.escape(shape)} for a batch of 4 samples.*\(4,\) or \(4, 1\)"
    with pytest.raises(ValueError, match=message):
        gradient_penalty(critic, real, fake)
    with pytest.raises(ValueError, match=message):
        input_gradient_norms(critic, real)
    with pytest.raises(ValueError, match=message):
        r1_penalty(critic, real)


def test_a_column_of_scores_gives_the_same_penalty_as_a_vector():
    critic, _ = linear_critic(0.5, dim=6)
    real, fake, eps = torch.randn(5, 6), torch.randn(5, 6), torch.rand(5)
    column = gradient_penalty(lambda x: critic(x).unsqueeze(1), real, fake, eps=eps)
    torch.testing.assert_close(column, gradient_penalty(critic, real, fake, eps=eps))
    torch.testing.assert_close(column, torch.tensor(0.25))


def test_non_tensor_inputs_are_a_type_error():
    critic = lambda x: x.sum(1)
    with pytest.raises(TypeError, match="real must be a torch.Tensor of shape \\(N, ...\\), got list"):
        gradient_penalty(critic, [[1.0, 2.0]], torch.randn(1, 2))
    with pytest.raises(ValueError, match="0-d tensor"):
        gradient_penalty(critic, torch.tensor(1.0), torch.tensor(2.0))
