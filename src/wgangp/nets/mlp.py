"""Generic ReLU MLPs for data of any shape (images, one-hot text): `model=mlp`.

The paper's Fig. 2 compares a generator that is a 4-layer 512-wide ReLU MLP; these nets are that
shape by default (3 hidden layers + output) but take any data_shape, so every data set trains with
them on a CPU.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from wgangp.nets.toy import relu_mlp


class MLPGenerator(nn.Module):
    """z (N, latent_dim) ~ N(0, I) -> tanh(MLP(z)) reshaped to (N, *data_shape), values in [-1, 1]."""

    def __init__(self, data_shape: tuple[int, ...], latent_dim: int = 128, width: int = 512, hidden_layers: int = 3):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.latent_dim = int(latent_dim)
        self.net = relu_mlp(self.latent_dim, math.prod(self.data_shape), width, hidden_layers)

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(self.net(z)).view(-1, *self.data_shape)


class MLPCritic(nn.Module):
    """x (N, *data_shape) -> scores (N,): flatten, then a ReLU MLP; no normalisation (Sec. 4)."""

    def __init__(self, data_shape: tuple[int, ...], width: int = 512, hidden_layers: int = 3):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.net = relu_mlp(math.prod(self.data_shape), 1, width, hidden_layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(1)
