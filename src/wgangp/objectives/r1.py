"""The standard GAN objective with the zero-centred R1 regulariser on real data (the critic-training
note)."""

from __future__ import annotations

import torch
from torch import Tensor

from wgangp.losses import gan_discriminator_loss, gan_generator_loss
from wgangp.objectives.base import GANObjective
from wgangp.penalties import squared_gradient_norms


class R1GAN(GANObjective):
    """Discriminator: sigmoid cross-entropy on logits + gamma / 2 * E_real[||grad_x D(x)||_2^2];
    generator: non-saturating. The regulariser sees real samples only, never fakes or interpolates.

    Args:
        gamma: the R1 weight (10 is the common choice for images).
        **kwargs: the loop's arguments (see GANObjective).
    """

    uses_gradient_penalty = True

    def __init__(self, *, gamma: float = 10.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.gamma = float(gamma)

    def critic_terms(
        self, real: Tensor, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        x = real.detach().requires_grad_(True)
        critic = self.critic_given(labels)  # D(., y): the gradient w.r.t. x at each sample's label
        d_real = critic(x)  # one forward serves the loss and the regulariser
        r1 = squared_gradient_norms(d_real, x, self.penalty_grad_scale()).mean()
        d_fake = critic(fake)
        return {
            "critic_loss": gan_discriminator_loss(d_real, d_fake) + 0.5 * self.gamma * r1,
            "r1_penalty": r1,  # E||grad||^2, unweighted
            "d_real": torch.sigmoid(d_real).mean(),
            "d_fake": torch.sigmoid(d_fake).mean(),
        }

    def generator_terms(self, d_fake: Tensor) -> dict[str, Tensor]:
        return {"generator_loss": gan_generator_loss(d_fake)}
