"""Residual nets: the CIFAR-10 ResNet of App. F and the 101-layer ResNet of Sec. 5.2 (LSUN, 64x64)."""

from __future__ import annotations

from torch import Tensor, nn

from wgangp.nets.dcgan import Crop
from wgangp.nets.layers import Reshape, image_shape, norm2d, penalty_safe_norm, spectral_normalize
from wgangp.nets.units import AvgPool2d, ReLU

RESNET_SIZES = (28, 32, 64, 128)
# Resampling blocks per image size: the generator up-samples from 4x4, the critic down-samples to 8x8
# (7x7 at 28x28, whose generator crops its 8x8 map to 7x7 as the released gan_mnist.py: 4 -> 7 -> 14 -> 28).
RESNET_UPS = {28: 3, 32: 3, 64: 4, 128: 5}
RESNET_DOWNS = {28: 2, 32: 2, 64: 3, 128: 4}
RESNET101_SIZES = (64,)


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


class ResNetGenerator(nn.Module):
    """App. F generator: z (N, latent_dim) -> (N, C, H, W) in [-1, 1].

    Linear -> (channels, 4, 4); up-sampling ResBlocks to H (three at 32x32: 8, 16, 32); norm, ReLU,
    3x3 conv to C, tanh. 64x64 and 128x128 add one and two up-sampling blocks, and 28x28 crops the
    first block's 8x8 map to 7x7 (our extensions).

    Args:
        data_shape: (C, H, W), H = W in {28, 32, 64, 128}.
        latent_dim: size of z (128 in App. F).
        channels: width of every block (128 in App. F).
        norm: batch | layer | none (App. F: batch norm in the generator).
    """

    def __init__(
        self, data_shape: tuple[int, ...], latent_dim: int = 128, channels: int = 128, norm: str = "batch"
    ) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.latent_dim = int(latent_dim)
        out_channels, size = image_shape(self.data_shape, RESNET_SIZES, type(self).__name__)
        blocks: list[nn.Module] = [ResBlock(channels, channels, "up", norm) for _ in range(RESNET_UPS[size])]
        if size == 28:
            blocks.insert(1, Crop(7))  # (N, channels, 8, 8) -> (N, channels, 7, 7)
        self.input = nn.Sequential(nn.Linear(self.latent_dim, channels * 16), Reshape(channels, 4, 4))
        self.blocks = nn.Sequential(*blocks)
        self.output = nn.Sequential(
            norm2d(norm, channels), ReLU(), nn.Conv2d(channels, out_channels, 3, padding=1), nn.Tanh()
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.output(self.blocks(self.input(z)))


class ResNetCritic(nn.Module):
    """App. F critic: x (N, C, H, W) -> scores (N,).

    ResBlocks down, down, none, none at 32x32 (32 -> 16 -> 8, then two blocks at 8x8; the first block
    has no leading ReLU, it sees the image), ReLU, global mean pool, Linear. 64x64 and 128x128 add one
    and two down-sampling blocks before the two plain ones; 28x28 ends at 7x7 (our extensions).

    Args:
        data_shape: (C, H, W), H = W in {28, 32, 64, 128}.
        channels: width of every block (128 in App. F).
        norm: batch | layer | none (App. F: none); batch becomes layer when `uses_penalty` (Sec. 4).
        uses_penalty: the objective penalises the critic's input gradient (set by wgangp.build.build).
        spectral_norm: every conv and the Linear spectrally normalised (nets.layers.spectral_normalize).
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        channels: int = 128,
        norm: str = "none",
        uses_penalty: bool = False,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.norm = penalty_safe_norm(norm, uses_penalty)
        in_channels, size = image_shape(self.data_shape, RESNET_SIZES, type(self).__name__)
        downs = RESNET_DOWNS[size]  # size / 2**downs == 8 (7 at 28x28)
        self.blocks = nn.Sequential(
            ResBlock(in_channels, channels, "down", self.norm, preactivate=False),
            *[ResBlock(channels, channels, "down", self.norm) for _ in range(downs - 1)],
            ResBlock(channels, channels, None, self.norm),
            ResBlock(channels, channels, None, self.norm),
        )
        self.relu = ReLU()
        self.feature_dim = channels
        self.output = nn.Linear(channels, 1)
        if spectral_norm:
            spectral_normalize(self)

    def features(self, x: Tensor, layer: int | None = None) -> Tensor:
        """The trunk: images -> pooled features (N, channels) (the AC-GAN, projection and InfoGAN heads read it).
        Only these (layer None): feature matching cannot pick a residual block's output."""
        if layer is not None:  # GANObjective refuses this before training
            raise ValueError(f"{type(self).__name__} offers its pooled features only (layer=None), not layer {layer}")
        return self.relu(self.blocks(x)).mean(dim=(2, 3))  # (N, channels, 8, 8) -> (N, channels)

    def head(self, features: Tensor) -> Tensor:
        """The score head: (N, channels) -> (N,)."""
        return self.output(features).squeeze(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class ResNet101Generator(nn.Module):
    """The 101-layer ResNet generator of Sec. 5.2 (released gan_64x64.py ResnetGenerator), 64x64 only.

    Linear -> (8d, 4, 4); bottleneck blocks: 6 at 4x4 (8d), then up + 6 at 8x8 (4d), up + 6 at 16x16
    (2d), up + 6 at 32x32 (d), up + 5 at 64x64 (d/2); 1x1 conv to C; tanh(x / 5). 33 blocks of three
    weight layers, plus the Linear and the output conv: 101 layers.

    Args:
        data_shape: (C, 64, 64).
        latent_dim: size of z.
        dim: d above (64 in the released code); a multiple of 4.
        norm: the norm closing each block's residual branch (batch in the released code).
    """

    def __init__(self, data_shape: tuple[int, ...], latent_dim: int = 128, dim: int = 64, norm: str = "batch"):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.latent_dim = int(latent_dim)
        out_channels, _ = image_shape(self.data_shape, RESNET101_SIZES, type(self).__name__)
        if dim % 4:
            raise ValueError(f"dim must be a multiple of 4 (bottlenecks halve d/2 channels); got {dim}")
        widths, plain = [8 * dim, 4 * dim, 2 * dim, dim, dim // 2], [6, 6, 6, 6, 5]  # at 4, 8, 16, 32, 64
        blocks: list[nn.Module] = []
        for i, (w, n) in enumerate(zip(widths, plain, strict=True)):
            if i:
                blocks.append(BottleneckBlock(widths[i - 1], w, "up", norm))
            blocks += [BottleneckBlock(w, w, None, norm) for _ in range(n)]
        self.input = nn.Sequential(nn.Linear(self.latent_dim, widths[0] * 16), Reshape(widths[0], 4, 4))
        self.blocks = nn.Sequential(*blocks)
        self.output = nn.Conv2d(widths[-1], out_channels, 1)

    def forward(self, z: Tensor) -> Tensor:
        return (self.output(self.blocks(self.input(z))) / 5).tanh()  # released: tanh(output / 5)


class ResNet101Critic(nn.Module):
    """The 101-layer ResNet critic of Sec. 5.2 (released gan_64x64.py ResnetDiscriminator), 64x64 only.

    1x1 conv to d/2; bottleneck blocks: 5 at 64x64 (d/2), then down + 6 at 32x32 (d), down + 6 at
    16x16 (2d), down + 6 at 8x8 (4d), down + 6 at 4x4 (8d); Linear; output / 5. 101 layers.

    Args:
        data_shape: (C, 64, 64).
        dim: d above (64 in the released code); a multiple of 4.
        norm: the norm closing each residual branch; batch becomes layer when `uses_penalty` (Sec. 4).
        uses_penalty: the objective penalises the critic's input gradient (set by wgangp.build.build).
        spectral_norm: every conv and the Linear spectrally normalised (nets.layers.spectral_normalize).
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        dim: int = 64,
        norm: str = "batch",
        uses_penalty: bool = False,
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.norm = penalty_safe_norm(norm, uses_penalty)
        in_channels, _ = image_shape(self.data_shape, RESNET101_SIZES, type(self).__name__)
        if dim % 4:
            raise ValueError(f"dim must be a multiple of 4 (bottlenecks halve d/2 channels); got {dim}")
        widths, plain = [dim // 2, dim, 2 * dim, 4 * dim, 8 * dim], [5, 6, 6, 6, 6]  # at 64, 32, 16, 8, 4
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 1)]
        for i, (w, n) in enumerate(zip(widths, plain, strict=True)):
            if i:
                blocks.append(BottleneckBlock(widths[i - 1], w, "down", self.norm))
            blocks += [BottleneckBlock(w, w, None, self.norm) for _ in range(n)]
        self.blocks = nn.Sequential(*blocks)
        self.output = nn.Linear(widths[-1] * 16, 1)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.blocks(x).flatten(1)).squeeze(1) / 5  # released: output / 5
