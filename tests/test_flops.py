"""The FLOP counter of scripts/bench.py: closed forms for a matmul and for the input gradient a penalty takes."""

import torch

from wgangp.flops import count_flops


def test_a_matmul_counts_two_flops_per_multiply_add():
    a, b = torch.randn(8, 16), torch.randn(16, 32)
    assert count_flops(lambda: a @ b) == 2 * 8 * 16 * 32


def test_autograd_grad_with_create_graph_is_counted_not_refused():
    # y = linear(x).sum(): the forward is one (8, 16) @ (16, 32) matmul; dy/dx = ones(8, 32) @ W is another
    # of the same size. Through a module, torch's own per-module tracker raises inside autograd.grad.
    linear = torch.nn.Linear(16, 32, bias=False)

    def step():
        x = torch.randn(8, 16, requires_grad=True)
        (grad,) = torch.autograd.grad(linear(x).sum(), x, create_graph=True)
        return grad

    assert count_flops(step) == 2 * (2 * 8 * 16 * 32)
