"""Building blocks shared by the image nets: nonlinearities, norms, residual blocks, the critic norm rule.

The critic normalisation rule (Sec. 4): a critic trained with a gradient penalty never uses batch
norm, because batch norm makes each sample's score depend on the rest of the batch while the penalty
is taken per sample. Critics that have a `norm` argument also take `uses_penalty` and pass both
through `penalty_safe_norm`; `wgangp.build.build` supplies `uses_penalty` from the objective class's
`uses_gradient_penalty` attribute via `penalty_kwargs`.
"""

from __future__ import annotations

import inspect
import logging

import torch
import torch.nn.functional as F
from hydra.utils import get_class
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

log = logging.getLogger(__name__)

NORMS = ("batch", "layer", "none")
NONLINEARITIES = ("relu", "leakyrelu", "softplus", "tanh", "gated")


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
        ctx.args = (_pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size), _pair(pool.padding),
                    pool.ceil_mode, pool.count_include_pad, pool.divisor_override)
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
            setattr(module, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode,
                                               child.count_include_pad, child.divisor_override))
        else:
            with_torch_units(child)
    return module


class SmoothELU(nn.Module):
    """softplus(2x + 2) / 2 - 1: a smooth stand-in for ELU (App. D; Table 1's third nonlinearity).

    Like ELU it is ~x for large x and tends to -1 for x -> -inf, but its derivative is smooth, which the
    penalty's second derivatives need (the paper could not train ELU nets, App. D).
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(2 * x + 2) / 2 - 1


class Gated(nn.Module):
    """PixelCNN's gated unit tanh(a) * sigmoid(b) (Sec. 5.2, ref. [24]): (N, 2C, ...) -> (N, C, ...).

    a is the first half of the channels, b (the gate) the second. The released gan_64x64.py splits
    even/odd channels instead and computes sigmoid(even) * tanh(odd): the same function class up to a
    permutation of the previous layer's output channels. The layer feeding a Gated unit therefore
    produces twice the channels (`expansion`).
    """

    expansion = 2

    def forward(self, x: Tensor) -> Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)


def make_nonlinearity(name: str) -> nn.Module:
    """One of NONLINEARITIES as a module. LeakyReLU uses slope 0.2, as the released DCGAN code."""
    if name == "relu":
        return ReLU()
    if name == "leakyrelu":
        return LeakyReLU(0.2)
    if name == "softplus":
        return SmoothELU()
    if name == "tanh":
        return nn.Tanh()
    if name == "gated":
        return Gated()
    raise ValueError(f"unknown nonlinearity {name!r}; choose one of {NONLINEARITIES}")


def expansion(name: str) -> int:
    """Channels the layer before nonlinearity `name` must produce per output channel (2 for gated)."""
    return Gated.expansion if name == "gated" else 1


def norm2d(kind: str, channels: int) -> nn.Module:
    """A norm over (N, C, H, W) feature maps.

    "layer" normalises each sample over (C, H, W) with a per-channel scale and offset (GroupNorm with
    one group), as the released tflib Layernorm; it never mixes samples, so it is safe under a penalty.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


def penalty_safe_norm(norm: str, uses_penalty: bool) -> str:
    """The critic norm to build: "batch" becomes "layer" under a gradient penalty (Sec. 4), with a warning."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {NORMS}")
    if norm == "batch" and uses_penalty:
        log.warning(
            "critic norm=batch with a gradient-penalty objective: using layer norm instead (Sec. 4: batch norm "
            "couples the samples of a batch, and the penalty is taken per sample)"
        )
        return "layer"
    return norm


def penalty_kwargs(critic_target: str, objective_target: str) -> dict[str, bool]:
    """{"uses_penalty": ...} for a critic class that takes `uses_penalty`, {} for one that does not.

    `uses_penalty` is the objective class's `uses_gradient_penalty` attribute (False when it has none).
    wgangp.build.build: `instantiate(cfg.model.critic, data_shape=..., **penalty_kwargs(critic_target,
    objective_target))`.
    """
    if "uses_penalty" not in inspect.signature(get_class(critic_target)).parameters:
        return {}
    return {"uses_penalty": bool(getattr(get_class(objective_target), "uses_gradient_penalty", False))}


def image_shape(data_shape: tuple[int, ...], sizes: tuple[int, ...], net: str) -> tuple[int, int]:
    """(channels, size) of a square (C, H, W) data_shape whose size is one of `sizes`, else ValueError."""
    shape = tuple(int(s) for s in data_shape)
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in sizes:
        supported = ", ".join(f"{s}x{s}" for s in sizes)
        example = "data=cifar10" if 32 in sizes else f"data=image_folder data.image_size={sizes[0]}"
        raise ValueError(f"{net} supports (C, H, W) images of size {supported}; got data_shape={shape}. Train it on "
                         f"an image data set of one of these sizes, e.g. {example} (data.image_size sets the size "
                         f"of mnist, image_folder, lsun_bedroom), or pick a model for this data (model=toy_mlp for "
                         f"2-d points, model=charcnn for text).")
    return shape[0], shape[1]


class Reshape(nn.Module):
    """(N, prod(shape)) -> (N, *shape)."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.size(0), *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class ResBlock(nn.Module):
    """Pre-activation residual block with two 3x3 convs and ReLU, of the CIFAR-10 ResNet (App. F).

    residual: [norm, ReLU,] conv3x3 (cin -> cout), norm, ReLU, [nearest x2 up,] conv3x3, [2x2 mean pool]
    shortcut: identity, or a 1x1 conv resampled the same way when the shape changes.
    App. F puts the up-sampling before the second conv, as here; the released gan_cifar_resnet.py
    up-samples before the first. `preactivate=False` drops the leading norm and ReLU (the critic's
    first block, which sees the image itself, as in the released code).
    """

    def __init__(
        self, cin: int, cout: int, resample: str | None = None, norm: str = "none", preactivate: bool = True
    ) -> None:
        super().__init__()
        if resample not in (None, "up", "down"):
            raise ValueError(f"resample must be None, 'up' or 'down'; got {resample!r}")
        self.resample = resample
        up = [nn.Upsample(scale_factor=2, mode="nearest")] if resample == "up" else []
        down = [AvgPool2d(2)] if resample == "down" else []
        pre = [norm2d(norm, cin), ReLU()] if preactivate else []
        self.residual = nn.Sequential(
            *pre,
            nn.Conv2d(cin, cout, 3, padding=1),
            norm2d(norm, cout),
            ReLU(),
            *up,  # App. F: "nearest-neighbor upsampling ... before the second convolution"
            nn.Conv2d(cout, cout, 3, padding=1),
            *down,  # App. F: "mean pooling after the second convolution"
        )
        if resample is None and cin == cout:
            self.shortcut: nn.Module = nn.Identity()
        else:  # a 1x1 conv commutes with nearest up-sampling and mean pooling, so its place is immaterial
            self.shortcut = nn.Sequential(*up, nn.Conv2d(cin, cout, 1), *down)

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.residual(x)


class BottleneckBlock(nn.Module):
    """Bottleneck residual block of the 101-layer ResNet (Sec. 5.2; released gan_64x64.py).

    residual: ReLU, 1x1 (cin -> cin/2), ReLU, 3x3 (cin/2 -> cout/2; stride 2 for "down", transposed
    stride 2 for "up"), ReLU, 1x1 (cout/2 -> cout, no bias), norm; the block returns
    shortcut + 0.3 * residual. Three weight layers on the main path.
    shortcut: identity, a 1x1 conv (stride 2 for "down"), or a 1x1 conv to 4 * cout followed by a pixel
    shuffle for "up" (the released SubpixelConv2D).
    """

    def __init__(self, cin: int, cout: int, resample: str | None = None, norm: str = "batch") -> None:
        super().__init__()
        if resample not in (None, "up", "down"):
            raise ValueError(f"resample must be None, 'up' or 'down'; got {resample!r}")
        self.resample = resample
        if resample == "down":
            middle: nn.Module = nn.Conv2d(cin // 2, cout // 2, 3, stride=2, padding=1)
            self.shortcut: nn.Module = nn.Conv2d(cin, cout, 1, stride=2)
        elif resample == "up":
            middle = nn.ConvTranspose2d(cin // 2, cout // 2, 3, stride=2, padding=1, output_padding=1)
            self.shortcut = nn.Sequential(nn.Conv2d(cin, 4 * cout, 1), nn.PixelShuffle(2))
        else:
            middle = nn.Conv2d(cin // 2, cout // 2, 3, padding=1)
            self.shortcut = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)
        self.residual = nn.Sequential(
            ReLU(),
            nn.Conv2d(cin, cin // 2, 1),
            ReLU(),
            middle,
            ReLU(),
            nn.Conv2d(cout // 2, cout, 1, bias=False),
            norm2d(norm, cout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + 0.3 * self.residual(x)
