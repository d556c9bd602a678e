"""The DCGAN generator and critic (the paper's baseline, Sec. 5.1-5.2) and the Table 1 family around them.

Layout, as the released gan_cifar.py / gan_64x64.py / gan_mnist.py: 5x5 kernels, stride 2, channels
doubling per stride in the critic and halving in the generator. At 32x32 with base filters b:

    G: z (N, 128) -> Linear -> (N, 4b, 4, 4) -> deconv (2b, 8, 8) -> deconv (b, 16, 16) -> deconv (C, 32, 32), tanh
    D: x (N, C, 32, 32) -> conv (b, 16, 16) -> conv (2b, 8, 8) -> conv (4b, 4, 4) -> Linear -> (N,)

Each hidden layer is followed by a norm (not after the critic's first conv) and the nonlinearity.
64x64 and 128x128 add one and two stride-2 stages (base * 8 and * 16 channels at 4x4). 28x28 follows
the released gan_mnist.py: the generator's 8x8 map is cropped to 7x7 so that 4 -> 7 -> 14 -> 28, and
the critic's stride-2 convs give 28 -> 14 -> 7 -> 4.

Table 1's depth counts weight layers of the 32x32 net: the plain DCGAN has depth 4, and depth d adds
d - 4 stride-1 3x3 conv layers (each followed by norm and nonlinearity, channels unchanged), spread over
the hidden resolutions as evenly as possible, lower resolutions first. The paper does not say where
its extra layers go; this is our choice. At 64x64 and 128x128 the same extra layers are added to the
deeper plain net (depth 4 then means 5 or 6 weight layers).

Weights are initialised N(0, 0.02) as in DCGAN and the released code (biases zero).
"""

from __future__ import annotations

from torch import Tensor, nn

from wgangp.nets.layers import (
    Reshape,
    expansion,
    image_shape,
    make_nonlinearity,
    norm2d,
    penalty_safe_norm,
    spectral_normalize,
    trunk_features,
)
from wgangp.nets.minibatch import check_minibatch, minibatch_layer

SIZES = (28, 32, 64, 128)
STAGES = {28: 3, 32: 3, 64: 4, 128: 5}  # stride-2 layers; 4x4 at the generator's input / critic's output


def extra_layers(depth: int, stages: int) -> list[int]:
    """Stride-1 conv layers per hidden resolution (lowest first) for Table 1's `depth` (>= 4)."""
    if int(depth) != depth or depth < 4:
        raise ValueError(f"depth must be an integer >= 4 (the plain 32x32 DCGAN has 4 weight layers); got {depth}")
    extra = int(depth) - 4
    return [extra // stages + (i < extra % stages) for i in range(stages)]


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv, transposed conv and linear weights N(0, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Crop(nn.Module):
    """(N, C, H, W) -> (N, C, size, size), keeping the top-left corner (released gan_mnist.py: 8x8 -> 7x7)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = int(size)

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :, : self.size, : self.size]


class DCGANGenerator(nn.Module):
    """DCGAN generator z (N, latent_dim) -> images (N, C, H, W) in [-1, 1], H = W in {28, 32, 64, 128}.

    Args:
        data_shape: (C, H, W) of the data.
        latent_dim: size of z.
        base_filters: channels of the last hidden layer (Table 1: 32, 64, 128); doubled per lower resolution.
        nonlinearity: relu | leakyrelu | softplus (softplus(2x+2)/2 - 1) | tanh | gated.
        norm: batch | layer | none, after every hidden layer.
        depth: Table 1's depth (4, 8, 12, 20); see the module docstring.
        constant_filters: every hidden layer has base_filters channels (Sec. 5.2's "constant number of
            filters" generator, from the WGAN paper).
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent_dim: int = 128,
        base_filters: int = 64,
        nonlinearity: str = "relu",
        norm: str = "batch",
        depth: int = 4,
        constant_filters: bool = False,
    ) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.latent_dim = int(latent_dim)
        channels, size = image_shape(self.data_shape, SIZES, type(self).__name__)
        stages = STAGES[size]
        k = expansion(nonlinearity)  # gated units halve the channels of the layer they follow

        def act(c: int) -> list[nn.Module]:
            return [norm2d(norm, c * k), make_nonlinearity(nonlinearity)]

        # widths[i]: channels at the i-th resolution 4, 8 (7 at 28x28), 16, ...
        widths = [base_filters if constant_filters else base_filters * 2 ** (stages - 1 - i) for i in range(stages)]
        layers: list[nn.Module] = [nn.Linear(self.latent_dim, widths[0] * k * 16), Reshape(widths[0] * k, 4, 4)]
        layers += act(widths[0])
        for i, n_extra in enumerate(extra_layers(depth, stages)):
            for _ in range(n_extra):
                layers += [nn.Conv2d(widths[i], widths[i] * k, 3, padding=1), *act(widths[i])]
            last = i == stages - 1
            cout = channels if last else widths[i + 1] * k
            layers.append(nn.ConvTranspose2d(widths[i], cout, 5, stride=2, padding=2, output_padding=1))  # H -> 2H
            if size == 28 and i == 0:
                layers.append(Crop(7))  # (N, ., 8, 8) -> (N, ., 7, 7), so that 7 -> 14 -> 28
            layers += [nn.Tanh()] if last else act(widths[i + 1])
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class DCGANCritic(nn.Module):
    """DCGAN critic images (N, C, H, W) -> scores (N,), H = W in {28, 32, 64, 128}.

    Args:
        data_shape: (C, H, W) of the data.
        base_filters: channels of the first conv (Table 1: 32, 64, 128); doubled per stride.
        nonlinearity: relu | leakyrelu | softplus | tanh | gated.
        norm: batch | layer | none, after every conv but the first; batch becomes layer when
            `uses_penalty` (Sec. 4). The norm actually used is the attribute `norm`.
        depth: Table 1's depth (4, 8, 12, 20); see the module docstring.
        uses_penalty: the objective penalises the critic's input gradient (set by wgangp.build.build).
        spectral_norm: every conv and the Linear spectrally normalised (nets.layers.spectral_normalize).
        minibatch: none | discrimination (on the flattened 4x4 features) | stddev (one more 4x4 feature
            map), before the last linear layer (wgangp.nets.minibatch); refused under a gradient penalty.
        minibatch_kernels, minibatch_kernel_dim: B and C of minibatch discrimination's T tensor.

    `features(x)` (N, F) are the flattened 4x4 features before any minibatch layer (feature matching's).
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        base_filters: int = 64,
        nonlinearity: str = "leakyrelu",
        norm: str = "batch",
        depth: int = 4,
        uses_penalty: bool = False,
        spectral_norm: bool = False,
        minibatch: str = "none",
        minibatch_kernels: int = 50,
        minibatch_kernel_dim: int = 5,
    ) -> None:
        super().__init__()
        check_minibatch(minibatch, uses_penalty)
        self.data_shape = tuple(data_shape)
        self.norm = penalty_safe_norm(norm, uses_penalty)
        channels, size = image_shape(self.data_shape, SIZES, type(self).__name__)
        stages = STAGES[size]
        k = expansion(nonlinearity)

        def act(c: int) -> list[nn.Module]:
            return [norm2d(self.norm, c * k), make_nonlinearity(nonlinearity)]

        widths = [base_filters * 2**i for i in range(stages)]
        layers: list[nn.Module] = []
        self.feature_boundaries: list[int] = []  # after each conv's nonlinearity (feature matching's layers)
        cin = channels
        for i, n_extra in enumerate(extra_layers(depth, stages)[::-1]):  # the critic visits 4x4 last
            layers.append(nn.Conv2d(cin, widths[i] * k, 5, stride=2, padding=2))  # H -> ceil(H / 2)
            if i > 0:  # DCGAN: no norm after the first conv, which sees the image
                layers.append(norm2d(self.norm, widths[i] * k))
            layers.append(make_nonlinearity(nonlinearity))
            self.feature_boundaries.append(len(layers))
            for _ in range(n_extra):
                layers += [nn.Conv2d(widths[i], widths[i] * k, 3, padding=1), *act(widths[i])]
                self.feature_boundaries.append(len(layers))
            cin = widths[i]
        # the last boundary: the (N, widths[-1], 4, 4) features, before any minibatch layer
        if minibatch == "stddev":
            layer, extra = minibatch_layer(minibatch, cin, minibatch_kernels, minibatch_kernel_dim)
            layers += [layer, nn.Flatten(), nn.Linear((widths[-1] + extra) * 16, 1)]
        elif minibatch == "discrimination":
            layer, extra = minibatch_layer(minibatch, widths[-1] * 16, minibatch_kernels, minibatch_kernel_dim)
            layers += [nn.Flatten(), layer, nn.Linear(widths[-1] * 16 + extra, 1)]
        else:
            layers += [nn.Flatten(), nn.Linear(widths[-1] * 16, 1)]  # (N, widths[-1] * 4 * 4) -> (N, 1)
        self.feature_dim = widths[-1] * 16
        self.minibatch = minibatch
        self.net = nn.Sequential(*layers)
        dcgan_init(self)
        if spectral_norm:  # after the initialisation, which writes the raw weights
            spectral_normalize(self)

    def features(self, x: Tensor, layer: int | None = None) -> Tensor:
        """(N, C, H, W) -> (N, feature_dim = widths[-1] * 16): the last conv block's output, flattened, per sample
        (feature matching's features, and the trunk that conditional and InfoGAN heads read); `layer` k: the
        k-th conv layer's output after its nonlinearity, flattened."""
        return trunk_features(self.net, self.feature_boundaries, x, layer, type(self).__name__)

    def head(self, features: Tensor) -> Tensor:
        """The score head on `features` (N, feature_dim) -> (N,) (the heads of wgangp.nets.conditional and
        InfoGAN's Q read the same features); without a minibatch layer, head(features(x)) == forward(x)."""
        if self.minibatch != "none":
            raise ValueError(
                "a conditional or InfoGAN head on a critic with model.critic.minibatch is not supported: the "
                "minibatch layer sits between the features and the score; use model.critic.minibatch=none"
            )
        return self.net[-1](features).squeeze(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)
