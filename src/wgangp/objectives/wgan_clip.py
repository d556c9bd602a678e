"""The original WGAN: Wasserstein critic loss, critic weights clipped to [-c, c] (Arjovsky et al. 2017, WGAN Alg. 1)."""

from __future__ import annotations

import torch
from torch import Tensor

from wgangp.losses import wasserstein_critic_loss, wasserstein_generator_loss
from wgangp.objectives.base import GANObjective


class WGANClip(GANObjective):
    """Critic loss E[D(fake)] - E[D(real)], every critic parameter clamped to [-c, c] after each
    critic step (WGAN Alg. 1 l.7). Defaults: RMSProp lr 5e-5, c = 0.01, n_critic = 5.

    Args:
        clip_value: c, the clipping bound (> 0).
        **kwargs: the loop's arguments (see GANObjective).
    """

    def __init__(self, *, clip_value: float = 0.01, **kwargs) -> None:
        super().__init__(**kwargs)
        self.clip_value = float(clip_value)

    def critic_terms(
        self, real: Tensor, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        critic_loss = wasserstein_critic_loss(*self.critic_scores(real, fake, labels))
        return {"critic_loss": critic_loss, "w_estimate": -critic_loss}

    @torch.no_grad()
    def after_critic_step(self) -> None:
        for p in self.critic.parameters():  # WGAN Alg. 1 l.7: w <- clip(w, -c, c), all parameters
            p.clamp_(-self.clip_value, self.clip_value)

    def generator_terms(self, d_fake: Tensor) -> dict[str, Tensor]:
        return {"generator_loss": wasserstein_generator_loss(d_fake)}
