"""The hinge (margin) GAN loss of the GAN lecture notes."""

from __future__ import annotations

from torch import Tensor

from wgangp.losses import hinge_discriminator_loss, hinge_generator_loss
from wgangp.objectives.base import GANObjective
from wgangp.objectives.step import Step


class HingeGAN(GANObjective):
    """Discriminator: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]; generator: -E[D(G(z))]."""

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        return {
            "loss": hinge_discriminator_loss(s.d_real, s.d_fake),
            "d_real": s.d_real.mean(),
            "d_fake": s.d_fake.mean(),
        }

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": hinge_generator_loss(s.d_fake)}
