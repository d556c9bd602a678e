"""WGAN with gradient penalty (paper Eq. 3, Algorithm 1)."""

from __future__ import annotations

from typing import Annotated

from torch import Tensor

from wgangp.losses import wasserstein_critic_loss, wasserstein_generator_loss
from wgangp.objectives.base import GANObjective
from wgangp.objectives.step import Step
from wgangp.penalties import PENALTY_WEIGHT_SCHEDULES, penalty_weight
from wgangp.rules import NON_NEGATIVE, POSITIVE, Rule


class WGANGP(GANObjective):
    """Critic loss E[D(fake)] - E[D(real)] + gp_weight * E[(||grad D(x_hat)||_2 - 1)^2].

    Args:
        gp_weight: lambda of Eq. 3 (10 in every experiment of the paper).
        one_sided: penalise only norms above 1, max(0, ||grad|| - 1)^2 (App. C).
        gp_weight_schedule: "constant" (lambda = gp_weight) or "adaptive": lambda = clip(penalty, 0,
            gp_weight_max), the R1 note's dynamic scaling, held constant in the backward pass
            (wgangp.penalties.penalty_weight says why); gp_weight is then unused.
        gp_weight_max: the adaptive lambda's upper bound (10 in the note).
        **kwargs: the loop's arguments (see GANObjective).
    """

    uses_gradient_penalty = True
    supports_feature_matching = False  # the generator minimises the W1 estimate itself

    def __init__(
        self,
        *,
        gp_weight: Annotated[float, NON_NEGATIVE] = 10.0,
        one_sided: bool = False,
        gp_weight_schedule: Annotated[str, Rule("choice", choices=PENALTY_WEIGHT_SCHEDULES)] = "constant",
        gp_weight_max: Annotated[float, POSITIVE] = 10.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.gp_weight = float(gp_weight)
        self.one_sided = bool(one_sided)
        self.gp_weight_schedule = str(gp_weight_schedule)
        self.gp_weight_max = float(gp_weight_max)
        if self.gp_weight_schedule == "adaptive" and self.penalty_every > 1:
            raise ValueError(
                "objective.gp_weight_schedule=adaptive sets lambda from the current penalty, which a lazy penalty "
                f"(objective.penalty_every={self.penalty_every}) scales by k on the steps it runs: use one of them"
            )

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        critic_loss = wasserstein_critic_loss(s.d_real, s.d_fake)  # one forward over cat(real, fake)
        penalty, norms = s.interpolate_penalty(one_sided=self.one_sided)  # l.4-6
        weight = penalty_weight(penalty, self.gp_weight_schedule, self.gp_weight, self.gp_weight_max)
        return {
            "loss": critic_loss + weight * penalty,  # l.7, averaged over the batch
            "w_estimate": -critic_loss,  # E[D(real)] - E[D(fake)], the negative critic loss w/o penalty
            "gradient_penalty": penalty,  # unweighted (times k on the steps a lazy penalty runs: its mean is kept)
            "gp_weight": weight,  # the lambda used
            **({} if norms is None else {"grad_norm": norms.mean()}),  # None: a step without the lazy penalty
        }

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": wasserstein_generator_loss(s.d_fake)}  # l.12
