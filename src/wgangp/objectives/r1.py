"""The standard GAN objective with the zero-centred R1 regulariser on real data (the critic-training note)."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from wgangp.losses import gan_discriminator_loss, gan_generator_loss
from wgangp.objectives.base import GANObjective
from wgangp.objectives.step import Step
from wgangp.rules import NON_NEGATIVE


class R1GAN(GANObjective):
    """Discriminator: sigmoid cross-entropy on logits + gamma / 2 * E_real[||grad_x D(x)||_2^2];
    generator: non-saturating. The regulariser sees real samples only, never fakes or interpolates.

    Args:
        gamma: the R1 weight (10 is the common choice for images).
        **kwargs: the loop's arguments (see GANObjective).
    """

    uses_gradient_penalty = True

    def __init__(self, *, gamma: Annotated[float, NON_NEGATIVE] = 10.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.gamma = float(gamma)

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        r1 = s.zero_centred_penalty("real")  # its forward is D(real): one forward serves the loss and the penalty
        return {
            "loss": gan_discriminator_loss(s.d_real, s.d_fake) + 0.5 * self.gamma * r1,
            "r1_penalty": r1,  # E||grad||^2, unweighted
            "d_real": torch.sigmoid(s.d_real).mean(),
            "d_fake": torch.sigmoid(s.d_fake).mean(),
        }

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": gan_generator_loss(s.d_fake)}
