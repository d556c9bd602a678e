"""The hinge (margin) GAN loss of the GAN lecture notes."""

from __future__ import annotations

import torch
from torch import Tensor

from wgangp.losses import hinge_discriminator_loss, hinge_generator_loss
from wgangp.objectives.base import GANObjective


class HingeGAN(GANObjective):
    """Discriminator: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]; generator: -E[D(G(z))]."""

    def critic_terms(
        self, real: Tensor, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        d_real, d_fake = self.critic_scores(real, fake, labels)
        return {
            "critic_loss": hinge_discriminator_loss(d_real, d_fake),
            "d_real": d_real.mean(),
            "d_fake": d_fake.mean(),
        }

    def generator_terms(self, d_fake: Tensor) -> dict[str, Tensor]:
        return {"generator_loss": hinge_generator_loss(d_fake)}
