"""Least-squares GAN (the GAN lecture notes, shared/paper/004_*): targets 1 for real, 0 for fake; the
generator's target is 1."""

from __future__ import annotations

import torch
from torch import Tensor

from wgangp.losses import least_squares_discriminator_loss, least_squares_generator_loss
from wgangp.objectives.base import GANObjective


class LSGAN(GANObjective):
    """Discriminator: 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]; generator: 1/2 E[(D(G(z)) - 1)^2]."""

    def critic_terms(
        self, real: Tensor, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        d_real, d_fake = self.critic_scores(real, fake, labels)
        return {
            "critic_loss": least_squares_discriminator_loss(d_real, d_fake),
            "d_real": d_real.mean(),
            "d_fake": d_fake.mean(),
        }

    def generator_terms(self, d_fake: Tensor) -> dict[str, Tensor]:
        return {"generator_loss": least_squares_generator_loss(d_fake)}
