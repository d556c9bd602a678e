"""Factories and norms shared by the nets: nonlinearities by name, 2-d norms, reshapes, image-shape
checks, and the critic norm rule.

The critic normalisation rule (Sec. 4): a critic trained with a gradient penalty never uses batch
norm, because batch norm makes each sample's score depend on the rest of the batch while the penalty
is taken per sample. Every critic takes `uses_penalty`; those with a `norm` pass both through
`penalty_safe_norm`; `wgangp.build.build` supplies `uses_penalty` from the objective class's
`uses_gradient_penalty` attribute.

Spectral normalisation (Miyato et al. 2018; the R1 note, names it as the other way to
enforce the Lipschitz constraint): every critic takes `spectral_norm` (`model.critic.spectral_norm: true`)
and, as the last step of its constructor, passes itself to `spectral_normalize`, the one implementation.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from wgangp.nets.units import LeakyReLU, ReLU

log = logging.getLogger(__name__)

NORMS = ("batch", "layer", "none")
NONLINEARITIES = ("relu", "leakyrelu", "softplus", "tanh", "gated")


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


# The weight layers spectral normalisation divides by their largest singular value; norm layers' affine
# scales and the biases are left alone, as in Miyato et al.
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Embedding)
NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


def spectral_normalize(module: nn.Module) -> nn.Module:
    """Every weight layer of `module` (WEIGHT_LAYERS) reparametrised as W / sigma(W), in place; returns `module`.

    Through PyTorch's own `torch.nn.utils.parametrizations.spectral_norm`: sigma(W) = u^T W v with the
    power-iteration vectors u, v kept as buffers (`<layer>.parametrizations.weight.0._u`, `._v`), so they
    are in the state_dict and in checkpoints, and a resume continues them exactly. A forward in train mode
    first runs one power iteration (updating u, v in place, without gradient); a forward in eval mode runs
    none and uses the stored u, v, so evaluation (which runs the critic in eval mode) never advances them.
    The gradient treats u, v as constants (d sigma / dW = u v^T, Miyato et al. Eq. 12), also in the double
    backward of a gradient penalty. A conv weight (C_out, C_in, k, k) is normalised as the matrix
    (C_out, C_in k k), as in SN-GAN.

    Apply it after the weights are initialised: the initialisation writes the raw weight, which the
    parametrisation then divides. Layers already parametrised are left as they are.
    """
    layers = [m for m in module.modules() if isinstance(m, WEIGHT_LAYERS) and not parametrize.is_parametrized(m)]
    for layer in layers:
        spectral_norm(layer)
    norms = sorted({type(m).__name__ for m in module.modules() if isinstance(m, NORM_LAYERS)})
    if norms:
        log.warning(
            "spectral normalisation with %s layers in the critic: their scales are not normalised, so the "
            "critic's Lipschitz constant is not bounded by 1 (SN-GAN's critics have no normalisation; set "
            "model.critic.norm=none)",
            ", ".join(norms),
        )
    return module


def has_spectral_norm(module: nn.Module) -> bool:
    """Whether any layer of `module` is spectrally normalised (`spectral_normalize`)."""
    return any(
        type(p).__name__ == "_SpectralNorm"
        for m in module.modules()
        if parametrize.is_parametrized(m, "weight")
        for p in m.parametrizations.weight
    )


def trunk_features(net: nn.Sequential, boundaries: list[int], x: Tensor, layer: int | None, name: str) -> Tensor:
    """A critic trunk's output after its `layer`-th nonlinearity, flattened per sample: (N, ...) -> (N, F).

    `boundaries`: the index in `net` just after each trunk nonlinearity, input side first; `layer` counts
    them from 1 (negative: from the last, -1 being the last); None: the last, the features the heads read.
    Feature matching's choice of layer (Salimans et al. 2016 match an intermediate layer).
    """
    check_feature_layer(layer, len(boundaries), name)
    end = boundaries[-1] if layer is None else boundaries[layer - 1 if layer > 0 else layer]
    return net[:end](x).flatten(1)


def check_feature_layer(layer: int | None, n: int, name: str) -> None:
    """ValueError unless `layer` is None or indexes one of a trunk's `n` layers (1..n, or -n..-1)."""
    if layer is not None and not (1 <= layer <= n or -n <= layer <= -1):
        raise ValueError(
            f"objective.feature_layer={layer} is out of range for {name}: its trunk has {n} layers, so use "
            f"1..{n} (from the input) or -{n}..-1 (from the last), or null for the last"
        )


def image_shape(data_shape: tuple[int, ...], sizes: tuple[int, ...], net: str) -> tuple[int, int]:
    """(channels, size) of a square (C, H, W) data_shape whose size is one of `sizes`, else ValueError."""
    shape = tuple(int(s) for s in data_shape)
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in sizes:
        supported = ", ".join(f"{s}x{s}" for s in sizes)
        example = (
            "data=cifar10 or experiment=cifar10_resnet (Table 3's recipe)"
            if 32 in sizes
            else f"data=image_folder data.image_size={sizes[0]}"
        )
        raise ValueError(
            f"{net} supports (C, H, W) images of size {supported}; got data_shape={shape}. Train it on "
            f"an image data set of one of these sizes, e.g. {example}; data.image_size sets the size "
            f"of mnist, image_folder, lsun_bedroom. Or pick a model for this data (model=toy_mlp for "
            f"2-d points, model=charcnn for text)."
        )
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
