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


def _paired(d_real: Tensor, d_fake: Tensor) -> tuple[Tensor, Tensor]:
    """Both as (N,): an (N,) minus an (N, 1) would otherwise broadcast to an (N, N) matrix of all pairs."""
    if d_real.numel() != d_fake.numel():
        raise ValueError(
            f"paired losses need one fake per real: got {d_real.numel()} real and {d_fake.numel()} fake outputs"
        )
    return d_real.reshape(-1), d_fake.reshape(-1)


def rpgan_critic_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Relativistic pairing GAN: E[softplus(-(D(x_i) - D(G(z_i))))] = -E[log sigmoid(D(x_i) - D(G(z_i)))] over
    paired samples, real i against fake i (RpGAN of Huang et al. 2024, R3GAN; the relativistic standard GAN of
    Jolicoeur-Martineau 2018). Shapes (N,) or (N, 1), as many fake outputs as real ones."""
    d_real, d_fake = _paired(d_real, d_fake)
    return F.softplus(d_fake - d_real).mean()


def rpgan_generator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """RpGAN generator: E[softplus(-(D(G(z_i)) - D(x_i)))], the critic loss with the roles swapped (Huang et al.
    2024). D(x) does not depend on G; detach it or not, G's gradient is the same."""
    d_real, d_fake = _paired(d_real, d_fake)
    return F.softplus(d_real - d_fake).mean()


def ragan_critic_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Relativistic average GAN (RaSGAN, Jolicoeur-Martineau 2018):
    -E_x[log sigmoid(D(x) - E_z D(G(z)))] - E_z[log(1 - sigmoid(D(G(z)) - E_x D(x)))], on logits, as
    E[softplus(-(D(x) - E D(G(z))))] + E[softplus(D(G(z)) - E D(x))]. Shapes (N,) or (N, 1); real and fake
    batches need not be the same size."""
    d_real, d_fake = d_real.reshape(-1), d_fake.reshape(-1)
    return F.softplus(d_fake.mean() - d_real).mean() + F.softplus(d_fake - d_real.mean()).mean()


def ragan_generator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """RaSGAN generator: the critic loss with real and fake swapped,
    -E_z[log sigmoid(D(G(z)) - E_x D(x))] - E_x[log(1 - sigmoid(D(x) - E_z D(G(z))))] (Jolicoeur-Martineau
    2018). Unlike the standard GAN's, the real term carries a gradient to G too, through E_z D(G(z))."""
    return ragan_critic_loss(d_fake, d_real)
