"""GAN losses as pure functions of discriminator outputs: no Lightning, usable in any loop.

Every function takes raw critic outputs (logits for the standard GAN), shape (N,) or (N, 1), and
returns the batch-mean loss to minimise.
"""

from __future__ import annotations

from torch import Tensor


def wasserstein_critic_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[D(fake)] - E[D(real)]: the critic side of Eq. 2, the "original critic loss" of Eq. 3."""
    return d_fake.mean() - d_real.mean()


def wasserstein_generator_loss(d_fake: Tensor) -> Tensor:
    """-E[D(G(z))] (Alg. 1 l.12)."""
    return -d_fake.mean()
