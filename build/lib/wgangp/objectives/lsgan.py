"""Least-squares GAN (the GAN lecture notes): targets 1 for real, 0 for fake; the generator's target is 1."""

from __future__ import annotations

from torch import Tensor

from wgangp.losses import least_squares_discriminator_loss, least_squares_generator_loss
from wgangp.objectives.base import GANObjective
from wgangp.objectives.step import Step


class LSGAN(GANObjective):
    """Discriminator: 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]; generator: 1/2 E[(D(G(z)) - 1)^2]."""

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        return {
            "loss": least_squares_discriminator_loss(s.d_real, s.d_fake),
            "d_real": s.d_real.mean(),
            "d_fake": s.d_fake.mean(),
        }

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": least_squares_generator_loss(s.d_fake)}
