"""GAN losses as pure functions of discriminator outputs: no Lightning, usable in any loop.

Every function takes raw discriminator outputs (logits for the standard GAN), shape (N,) or (N, 1),
and returns the batch-mean loss to minimise.

    from wgangp.losses import gan_discriminator_loss, gan_generator_loss
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def wasserstein_critic_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[D(fake)] - E[D(real)]: the critic side of Eq. 2, the "original critic loss" of Eq. 3."""
    return d_fake.mean() - d_real.mean()


def wasserstein_generator_loss(d_fake: Tensor) -> Tensor:
    """-E[D(G(z))] (Alg. 1 l.12)."""
    return -d_fake.mean()


def gan_discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """-E[log sigmoid(D(x))] - E[log(1 - sigmoid(D(G(z))))]: the standard GAN discriminator (Eq. 1),
    on logits; log sigmoid(a) = -softplus(-a) and log(1 - sigmoid(a)) = -softplus(a) stay finite."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def gan_generator_loss(d_fake: Tensor, saturating: bool = False) -> Tensor:
    """Non-saturating -E[log sigmoid(D(G(z)))] (the DCGAN default), or with saturating=True the
    minimax E[log(1 - sigmoid(D(G(z))))], whose gradient vanishes when D rejects the samples."""
    if saturating:
        return -F.softplus(d_fake).mean()
    return F.softplus(-d_fake).mean()


def least_squares_discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """LSGAN: 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2] (targets 1 for real, 0 for fake)."""
    return 0.5 * (d_real - 1).pow(2).mean() + 0.5 * d_fake.pow(2).mean()


def least_squares_generator_loss(d_fake: Tensor) -> Tensor:
    """LSGAN: 1/2 E[(D(G(z)) - 1)^2] (generator target 1)."""
    return 0.5 * (d_fake - 1).pow(2).mean()


def hinge_discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Margin loss: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def hinge_generator_loss(d_fake: Tensor) -> Tensor:
    """-E[D(G(z))], as for WGAN."""
    return -d_fake.mean()


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """||E_x f(x) - E_z f(G(z))||_2^2 over a real and a generated batch of features (N, F) (Salimans et al.
    2016, the lecture notes' feature matching); the generator's loss, in fp32."""
    return (real_features.float().mean(0) - fake_features.float().mean(0)).pow(2).sum()
