"""ReLU MLPs for data of any shape: the toy experiments' nets (Sec. 3, released gan_toy.py,
`model=toy_mlp`: 2-d latent, unbounded output) and the generic ones (`model=mlp`, tanh images or
one-hot text; the paper's Fig. 2 "4-layer 512-wide ReLU MLP" generator is `hidden_layers: 4`)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from wgangp.nets.layers import spectral_normalize, trunk_features
from wgangp.nets.minibatch import check_minibatch, minibatch_layer
from wgangp.nets.units import ReLU


def relu_mlp(in_dim: int, out_dim: int, width: int, hidden_layers: int) -> nn.Sequential:
    """(Linear, ReLU) x hidden_layers, then Linear, with PyTorch's default initialisation.

    The released TF code initialises ReLU layers He-uniform; with PyTorch's default (smaller)
    initialisation the 8-Gaussians generator reached W1 0.11 in 1000 generator iterations, with
    He-uniform 0.28 (`python src/train.py experiment=toy generator_iters=1000`, one seed), so the default stays.
    """
    dims = [in_dim] + [width] * hidden_layers
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(a, b), ReLU()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (N, latent_dim) ~ N(0, I) -> MLP(z) reshaped to (N, *data_shape).

    `tanh=True` bounds the output to [-1, 1] (images, text); the toy problems' points are unbounded
    (`tanh: false` in conf/model/toy_mlp.yaml).
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent_dim: int = 128,
        width: int = 512,
        hidden_layers: int = 3,
        tanh: bool = True,
    ):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.latent_dim = int(latent_dim)
        self.tanh = bool(tanh)
        self.net = relu_mlp(self.latent_dim, math.prod(self.data_shape), width, hidden_layers)

    def forward(self, z: Tensor) -> Tensor:
        out = self.net(z)
        return (torch.tanh(out) if self.tanh else out).view(-1, *self.data_shape)


class MLPCritic(nn.Module):
    """x (N, *data_shape) -> scores (N,): flatten, then a ReLU MLP; no normalisation, so each output
    depends on its own input only (Sec. 4). `uses_penalty` is accepted as by every critic; with no norm
    there is nothing to swap. `spectral_norm`: every Linear spectrally normalised (nets.layers.spectral_normalize).

    minibatch: none | discrimination | stddev (wgangp.nets.minibatch), inserted before the last linear
    layer; refused under a gradient penalty. minibatch_kernels, minibatch_kernel_dim: B and C of
    minibatch discrimination's T tensor. `features(x)` (N, F) is the last hidden layer's output (before
    any minibatch layer), the features of feature matching.
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        width: int = 512,
        hidden_layers: int = 3,
        uses_penalty: bool = False,
        spectral_norm: bool = False,
        minibatch: str = "none",
        minibatch_kernels: int = 50,
        minibatch_kernel_dim: int = 5,
    ):
        super().__init__()
        check_minibatch(minibatch, uses_penalty)
        self.data_shape = tuple(data_shape)
        self.net = relu_mlp(math.prod(self.data_shape), 1, width, hidden_layers)
        if minibatch != "none":
            head = self.net[-1]  # Linear(F, 1)
            layer, extra = minibatch_layer(minibatch, head.in_features, minibatch_kernels, minibatch_kernel_dim)
            self.net = nn.Sequential(*self.net[:-1], layer, nn.Linear(head.in_features + extra, 1))
        # after each hidden (Linear, ReLU); no hidden layer: the flattened input is the one "layer"
        self.feature_boundaries = [2 * (i + 1) for i in range(hidden_layers)] or [0]
        self.feature_dim = int(width) if hidden_layers else math.prod(self.data_shape)
        self.minibatch = minibatch
        if spectral_norm:  # after the head is final, so the minibatch head's Linear is normalised too
            spectral_normalize(self)

    def features(self, x: Tensor, layer: int | None = None) -> Tensor:
        """(N, *data_shape) -> (N, F): the last hidden layer's output (F = feature_dim), per sample (feature
        matching's features, and the trunk InfoGAN's Q reads); `layer` k: the k-th hidden layer's output."""
        return trunk_features(self.net, self.feature_boundaries, x.flatten(1), layer, type(self).__name__)

    def head(self, features: Tensor) -> Tensor:
        """The score head: (N, feature_dim) -> (N,); without a minibatch layer, head(features(x)) == forward(x)."""
        if self.minibatch != "none":
            raise ValueError(
                "an InfoGAN head on a critic with model.critic.minibatch is not supported: the minibatch layer "
                "sits between the features and the score; use model.critic.minibatch=none"
            )
        return self.net[-1](features).squeeze(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(1)
