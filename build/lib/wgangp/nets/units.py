"""Penalty-friendly autograd units: ReLU, LeakyReLU and AvgPool2d whose backward is a function of the
incoming gradient alone.

torch.nn's versions record their input (or output) as an input of the input-gradient graph, so the double
backward of a gradient penalty sends explicit zeros back through the whole forward pass at the
interpolates. These drop-in subclasses give the same values and first and second derivatives without that
pass; every net of wgangp.nets uses them, and `with_torch_units` swaps them back (scripts/bench.py's
reference, tests/test_nets.py).

    from wgangp.nets.units import ReLU, LeakyReLU, AvgPool2d
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair


class _PiecewiseLinear(torch.autograd.Function):
    """relu / leaky_relu whose backward is a function of the incoming gradient alone.

    A piecewise-linear unit has derivative 1 or `negative_slope`, constant almost everywhere, so its
    second derivative is 0. PyTorch's own backward (ReluBackward0, LeakyReluBackward0) still records
    the saved activation as an input of the input-gradient graph: the double backward of a gradient
    penalty then sends explicit zeros back through the whole forward pass at the interpolates (a
    weight-gradient and an input-gradient product of zeros per layer, 17% of a toy critic step's
    FLOPs). Here the saved activation enters the backward detached, so that pass never happens; every
    gradient, first or second order, is the same (tests/test_nets.py compares them bit for bit).
    """

    @staticmethod
    def forward(ctx, x: Tensor, negative_slope: float) -> Tensor:
        out = F.leaky_relu(x, negative_slope) if negative_slope else F.relu(x)
        ctx.save_for_backward(out)
        ctx.negative_slope = negative_slope
        ctx.set_materialize_grads(False)  # "no gradient" stays None instead of becoming a tensor of zeros
        return out

    @staticmethod
    def backward(ctx, grad: Tensor | None) -> tuple[Tensor | None, None]:
        if grad is None:  # e.g. from a convolution's double backward, which has nothing for its input
            return None, None
        (out,) = ctx.saved_tensors
        out = out.detach()  # the mask (out > 0) is a constant of the input-gradient graph
        if ctx.negative_slope:
            return torch.ops.aten.leaky_relu_backward(grad, out, ctx.negative_slope, True), None
        return torch.ops.aten.threshold_backward(grad, out, 0), None


class ReLU(nn.ReLU):
    """nn.ReLU with a penalty-friendly backward (`_PiecewiseLinear`); every net here uses it."""

    def forward(self, x: Tensor) -> Tensor:
        return _PiecewiseLinear.apply(x, 0.0)


class LeakyReLU(nn.LeakyReLU):
    """nn.LeakyReLU with a penalty-friendly backward (`_PiecewiseLinear`)."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        if negative_slope < 0:
            raise ValueError(f"LeakyReLU negative_slope={negative_slope} must be >= 0")
        super().__init__(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return _PiecewiseLinear.apply(x, float(self.negative_slope))


class _AvgPool2d(torch.autograd.Function):
    """avg_pool2d whose backward is a function of the incoming gradient alone.

    Pooling is linear, but PyTorch's AvgPool2dBackward0 records its input as an input of the
    input-gradient graph, and the double backward of a gradient penalty sends explicit zeros back
    through the forward pass from there (aten's formula for the input of avg_pool2d_backward is zeros):
    the ResNet critic's mean pools made it redo every convolution's backward at the interpolates with
    zeros. Here the saved input enters the backward detached (it only gives the shape).
    """

    @staticmethod
    def forward(ctx, x: Tensor, pool: nn.AvgPool2d) -> Tensor:
        ctx.args = (
            _pair(pool.kernel_size),
            _pair(pool.stride or pool.kernel_size),
            _pair(pool.padding),
            pool.ceil_mode,
            pool.count_include_pad,
            pool.divisor_override,
        )
        ctx.save_for_backward(x)
        ctx.set_materialize_grads(False)
        return F.avg_pool2d(x, *ctx.args)

    @staticmethod
    def backward(ctx, grad: Tensor | None) -> tuple[Tensor | None, None]:
        if grad is None:
            return None, None
        (x,) = ctx.saved_tensors
        return torch.ops.aten.avg_pool2d_backward(grad, x.detach(), *ctx.args), None


class AvgPool2d(nn.AvgPool2d):
    """nn.AvgPool2d with a penalty-friendly backward (`_AvgPool2d`); the ResNets' mean pooling."""

    def forward(self, x: Tensor) -> Tensor:
        return _AvgPool2d.apply(x, self)


def with_torch_units(module: nn.Module) -> nn.Module:
    """`module` with the penalty-friendly ReLU, LeakyReLU and AvgPool2d above swapped for torch.nn's, in
    place: the nets as a popular port builds them (same function and gradients, PyTorch's double backward;
    scripts/bench.py's reference)."""
    for name, child in module.named_children():
        if isinstance(child, LeakyReLU):
            setattr(module, name, nn.LeakyReLU(child.negative_slope))
        elif isinstance(child, ReLU):
            setattr(module, name, nn.ReLU())
        elif isinstance(child, AvgPool2d):
            setattr(
                module,
                name,
                nn.AvgPool2d(
                    child.kernel_size,
                    child.stride,
                    child.padding,
                    child.ceil_mode,
                    child.count_include_pad,
                    child.divisor_override,
                ),
            )
        else:
            with_torch_units(child)
    return module
