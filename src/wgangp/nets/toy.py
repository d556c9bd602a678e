"""The ReLU MLPs of the paper's toy experiments (Sec. 3, released gan_toy.py): 512 wide, 3 hidden layers."""

from __future__ import annotations

import math

from torch import Tensor, nn


def relu_mlp(in_dim: int, out_dim: int, width: int, hidden_layers: int) -> nn.Sequential:
    """(Linear, ReLU) x hidden_layers, then Linear, with PyTorch's default initialisation.

    The released TF code initialises ReLU layers He-uniform; with PyTorch's default (smaller)
    initialisation the 8-Gaussians generator reached W1 0.11 in 1000 generator iterations, with
    He-uniform 0.28 (measured here with the toy settings), so the default stays.
    """
    dims = [in_dim] + [width] * hidden_layers
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


class ToyGenerator(nn.Module):
    """z (N, latent_dim) -> points (N, D). The released toy code uses a 2-d Gaussian latent."""

    def __init__(self, data_shape: tuple[int, ...], latent_dim: int = 2, width: int = 512, hidden_layers: int = 3):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.latent_dim = int(latent_dim)
        self.net = relu_mlp(self.latent_dim, math.prod(self.data_shape), width, hidden_layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *self.data_shape)


class ToyCritic(nn.Module):
    """points (N, D) -> scores (N,). No normalisation: each output depends on its own input only."""

    def __init__(self, data_shape: tuple[int, ...], width: int = 512, hidden_layers: int = 3):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.net = relu_mlp(math.prod(self.data_shape), 1, width, hidden_layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(1)
