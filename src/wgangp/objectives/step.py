"""What an objective's loss is written over: one player's step.

A `Step` holds the step's real batch, its fakes and their labels, the step's random stream, and the critic's
scores D(real) and D(fake), each computed once, when the loss first asks for it. The engine
(wgangp.objectives.engine) makes one per critic step (fakes without a generator graph) and one per generator step
(fakes with it, the critic frozen); an objective's `critic_loss(s)` and `generator_loss(s)` read from it:

    def critic_loss(self, s):
        gp, norms = s.interpolate_penalty()                     # Alg. 1 l.4-7, one epsilon per sample
        w = s.d_real.mean() - s.d_fake.mean()                   # one forward over cat(real, fake)
        return {"loss": -w + self.gp_weight * gp, "w_estimate": w}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from wgangp.penalties import input_gradient_norms, interpolate, penalty_from_norms, squared_gradient_norms

if TYPE_CHECKING:
    from wgangp.objectives.base import GANObjective


class Step:
    """One critic or generator step of `objective`.

    Args:
        objective: the objective (its critic, the fp16 loss scale, the per-rank draws).
        real: a real batch (m, *data_shape); in the generator step the last critic step's batch (read only by
            losses that compare with real data: feature matching, relativistic losses).
        fake: generated samples (n, *data_shape): without a graph in a critic step, G(z) in the generator step.
        labels: the class of each sample, (m,) int64, shared by each real/fake pair in a critic step, the fakes'
            drawn labels in the generator step; None for unconditional runs.
        rng: the step's random stream (wgangp.rng): every draw of the loss (epsilon) comes from it.
        of_critic: a critic step (True) or the generator step (False).
        z: the generator step's latents, (n, latent_dim) (InfoGAN reads its codes from them); None in critic steps.
        penalty_scale: the weight of this step's penalties (GANObjective.penalty_scale): 1 (Alg. 1); with lazy
            regularisation k on the steps that regularise and 0 on the others, where no penalty is computed.

    The critic sees its inputs through the objective's view (objective.augment: the images, or their
    differentiable augmentation; wgangp.objectives.view), in the scores and the penalties alike.
    """

    def __init__(
        self,
        objective: GANObjective,
        real: Tensor,
        fake: Tensor,
        labels: Tensor | None,
        rng: torch.Generator | None,
        of_critic: bool,
        z: Tensor | None = None,
        penalty_scale: float = 1.0,
    ) -> None:
        self.objective, self.real, self.fake, self.labels, self.rng = objective, real, fake, labels, rng
        self.of_critic, self.z, self.penalty_scale = of_critic, z, float(penalty_scale)
        self._d_real: Tensor | None = None
        self._d_fake: Tensor | None = None

    @property
    def critic(self) -> Callable[[Tensor], Tensor]:
        """D(., y) as the critic sees its input (through the view), at each sample's label: a function of x alone."""
        return self._seen(self.objective.critic_given(self.labels))

    def _seen(self, critic: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
        view = self.objective.view
        return critic if not view.active else lambda x: critic(view(x))

    @property
    def d_real(self) -> Tensor:
        """D(real), (m,) or (m, 1), computed on first use."""
        if self._d_real is None:
            if self._joint():
                self._score_both()
            else:
                self._d_real = self.critic(self.real)
        return self._d_real

    @property
    def d_fake(self) -> Tensor:
        """D(fake), computed on first use."""
        if self._d_fake is None:
            if self._joint():
                self._score_both()
            else:
                self._d_fake = self.critic(self.fake)
        return self._d_fake

    def _joint(self) -> bool:
        """Whether the first score a critic step asks for comes with the other from one forward: a penalised
        critic scores every sample on its own (no batch norm, Sec. 4), so one forward over cat([real, fake]) gives
        the same scores with half the kernel launches. Any other critic may hold batch norm, whose statistics must
        stay those of the real and of the fake batch: one forward each, in the order the loss reads them. The
        generator step scores only what its loss reads."""
        return self.of_critic and self.objective.joint_critic_forward and self._d_real is None and self._d_fake is None

    def _score_both(self) -> None:
        labels = None if self.labels is None else torch.cat([self.labels, self.labels])
        both = self._seen(self.objective.critic_given(labels))(torch.cat([self.real, self.fake]))
        self._d_real, self._d_fake = both.chunk(2)

    def scored(self, d_real: Tensor | None = None, d_fake: Tensor | None = None) -> None:
        """Hand the step scores the loss computed itself (through a trunk shared with a class or code head), so
        that d_real / d_fake are those and no second forward runs."""
        if d_real is not None:
            self._d_real = d_real
        if d_fake is not None:
            self._d_fake = d_fake

    def _skipped(self) -> Tensor:
        return torch.zeros((), device=self.real.device)

    def interpolate_penalty(self, one_sided: bool = False) -> tuple[Tensor, Tensor | None]:
        """(penalty, norms (m,)) of the critic's input gradients on real/fake interpolates (Alg. 1 l.4-7): one
        epsilon per sample from the step's stream, each sample's label held fixed; the penalty unweighted,
        E[(norm - 1)^2] (one-sided: max(0, norm - 1)^2, App. C), times penalty_scale (lazy regularisation; on a
        step without the penalty: 0 and norms None, nothing computed or drawn)."""
        if self.penalty_scale == 0:
            return self._skipped(), None
        eps = self.objective.sample_uniform(self.real.size(0), self.rng)  # Alg. 1 l.4: one epsilon per sample
        x_hat = interpolate(self.real, self.fake, eps)  # l.6
        norms = input_gradient_norms(self.critic, x_hat, self.objective.penalty_grad_scale())  # (m,), y fixed
        penalty = penalty_from_norms(norms, one_sided=one_sided)
        return (penalty if self.penalty_scale == 1 else penalty * self.penalty_scale), norms

    def zero_centred_penalty(self, on: str = "real") -> Tensor:
        """E||grad_x D(x)||^2 over the real (R1) or the fake (R2) batch, unweighted. The scores of that forward
        are the step's D(real) (D(fake)) too, so the loss and the penalty share it. Times penalty_scale (lazy
        regularisation: 0, not computed, on the steps without it)."""
        if self.penalty_scale == 0:
            return self._skipped()
        x = (self.real if on == "real" else self.fake).detach().requires_grad_(True)
        scores = self.critic(x)
        if on == "real":
            self._d_real = scores
        else:
            self._d_fake = scores
        penalty = squared_gradient_norms(scores, x, self.objective.penalty_grad_scale()).mean()
        return penalty if self.penalty_scale == 1 else penalty * self.penalty_scale

    def real_scores(self) -> Tensor | None:
        """D(real) if the loss computed it (ADA counts its signs), else None; never computes it."""
        return self._d_real

    def fake_scores(self) -> Tensor | None:
        """D(fake) if the loss computed it, else None; never computes it."""
        return self._d_fake
