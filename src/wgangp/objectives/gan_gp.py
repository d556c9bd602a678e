"""The standard GAN objective plus the interpolate gradient penalty of WGAN-GP (the GAN + gradient penalty
note)."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from wgangp.losses import gan_discriminator_loss, gan_generator_loss
from wgangp.objectives.base import GANObjective
from wgangp.objectives.step import Step
from wgangp.penalties import PENALTY_WEIGHT_SCHEDULES, penalty_weight
from wgangp.rules import NON_NEGATIVE, POSITIVE, Rule


class GANGP(GANObjective):
    """Discriminator: sigmoid cross-entropy on logits + gp_weight * E[(||grad D(x_hat)||_2 - 1)^2] on
    real/fake interpolates (the penalty on the logit); generator: non-saturating.

    Args:
        gp_weight: lambda (the GAN + gradient penalty note compares 1 and 10).
        gp_weight_schedule, gp_weight_max: "constant" or the R1 note's "adaptive" lambda, as in WGANGP.
        **kwargs: the loop's arguments (see GANObjective).
    """

    uses_gradient_penalty = True

    def __init__(
        self,
        *,
        gp_weight: Annotated[float, NON_NEGATIVE] = 10.0,
        gp_weight_schedule: Annotated[str, Rule("choice", choices=PENALTY_WEIGHT_SCHEDULES)] = "constant",
        gp_weight_max: Annotated[float, POSITIVE] = 10.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.gp_weight = float(gp_weight)
        self.gp_weight_schedule = str(gp_weight_schedule)
        self.gp_weight_max = float(gp_weight_max)
        if self.gp_weight_schedule == "adaptive" and self.penalty_every > 1:
            raise ValueError(
                "objective.gp_weight_schedule=adaptive sets lambda from the current penalty, which a lazy penalty "
                f"(objective.penalty_every={self.penalty_every}) scales by k on the steps it runs: use one of them"
            )

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        d_real, d_fake = s.d_real, s.d_fake
        penalty, norms = s.interpolate_penalty()  # as Alg. 1 l.4-6
        weight = penalty_weight(penalty, self.gp_weight_schedule, self.gp_weight, self.gp_weight_max)
        return {
            "loss": gan_discriminator_loss(d_real, d_fake) + weight * penalty,
            "gradient_penalty": penalty,  # unweighted (times k on the steps a lazy penalty runs: its mean is kept)
            "gp_weight": weight,  # the lambda used
            **({} if norms is None else {"grad_norm": norms.mean()}),  # None: a step without the lazy penalty
            "d_real": torch.sigmoid(d_real).mean(),
            "d_fake": torch.sigmoid(d_fake).mean(),
        }

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": gan_generator_loss(s.d_fake)}
