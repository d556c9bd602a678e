"""The fully connected generator of Sec. 5.2 ("4-layer 512-dim ReLU MLP", after the WGAN paper)."""

from __future__ import annotations

import math

from torch import Tensor, nn

from wgangp.nets.toy import relu_mlp


class MLPGenerator(nn.Module):
    """z (N, latent_dim) -> (Linear, ReLU) x hidden_layers -> Linear -> tanh -> (N, *data_shape).

    As the released FCGenerator: four 512-wide ReLU layers, then a linear map to every pixel. It has no
    notion of image size, so any data_shape works.
    """

    def __init__(self, data_shape: tuple[int, ...], latent_dim: int = 128, width: int = 512, hidden_layers: int = 4):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.latent_dim = int(latent_dim)
        self.net = nn.Sequential(relu_mlp(self.latent_dim, math.prod(self.data_shape), width, hidden_layers), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *self.data_shape)
