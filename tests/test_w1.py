import torch

from wgangp.metrics.w1 import wasserstein1


def test_w1_of_a_set_with_itself_is_zero():
    x = torch.randn(300, 2)
    assert wasserstein1(x, x) < 1e-12


def test_w1_of_a_shifted_set_is_the_shift():
    x = torch.randn(300, 2)
    shift = torch.tensor([0.3, -0.4])  # |shift| = 0.5
    assert abs(wasserstein1(x, x + shift) - 0.5) < 1e-6  # fp32 inputs


def test_w1_between_two_point_masses():
    assert abs(wasserstein1(torch.zeros(10, 2), torch.ones(10, 2)) - 2**0.5) < 1e-12
