"""The standard GAN objective (Eq. 1) as trained by DCGAN: sigmoid cross-entropy on logits."""

from __future__ import annotations

import torch
from torch import Tensor

from wgangp.losses import gan_discriminator_loss, gan_generator_loss
from wgangp.objectives.base import GANObjective
from wgangp.objectives.step import Step


class StandardGAN(GANObjective):
    """Discriminator: -E[log D(x)] - E[log(1 - D(G(z)))]; generator: non-saturating -E[log D(G(z))],
    or the minimax E[log(1 - D(G(z)))] with saturating=True. D outputs logits.

    Args:
        saturating: use the minimax (saturating) generator loss.
        **kwargs: the loop's arguments (see GANObjective).
    """

    def __init__(self, *, saturating: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.saturating = bool(saturating)

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        return {
            "loss": gan_discriminator_loss(s.d_real, s.d_fake),
            "d_real": torch.sigmoid(s.d_real).mean(),  # the discriminator's mean probabilities
            "d_fake": torch.sigmoid(s.d_fake).mean(),
        }

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": gan_generator_loss(s.d_fake, saturating=self.saturating)}
