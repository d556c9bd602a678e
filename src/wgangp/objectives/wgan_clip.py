"""The original WGAN: Wasserstein critic loss, critic weights clipped to [-c, c] (Arjovsky et al. 2017, WGAN Alg. 1);
without clipping, the WGAN loss for a critic constrained otherwise (spectral normalisation, `objective=wgan`)."""

from __future__ import annotations

import logging
from typing import Annotated

import torch
from torch import Tensor

from wgangp.losses import wasserstein_critic_loss, wasserstein_generator_loss
from wgangp.nets.layers import has_spectral_norm
from wgangp.objectives.base import GANObjective
from wgangp.objectives.step import Step
from wgangp.rules import number

log = logging.getLogger("wgangp")

CLIP = number(0, lo_open=True, nullable=True, note="the WGAN paper uses 0.01; null clips nothing")


class WGANClip(GANObjective):
    """Critic loss E[D(fake)] - E[D(real)], every critic parameter clamped to [-c, c] after each
    critic step (WGAN Alg. 1 l.7). Defaults: RMSProp lr 5e-5, c = 0.01, n_critic = 5.

    Args:
        clip_value: c, the clipping bound (> 0); None clips nothing: the WGAN loss alone, for a critic whose
            Lipschitz constant is bounded by its layers (model.critic.spectral_norm=true; conf/objective/wgan.yaml).
        **kwargs: the loop's arguments (see GANObjective).
    """

    supports_feature_matching = False  # the generator minimises the W1 estimate itself

    def __init__(self, *, clip_value: Annotated[float | None, CLIP] = 0.01, **kwargs) -> None:
        super().__init__(**kwargs)
        self.clip_value = None if clip_value is None else float(clip_value)
        if self.clip_value is None and not has_spectral_norm(self.critic):
            log.warning(
                "WGAN without clipping and without spectral normalisation: nothing bounds the critic's Lipschitz "
                "constant, so its scores and W estimate can grow without bound; add model.critic.spectral_norm=true"
            )

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        critic_loss = wasserstein_critic_loss(s.d_real, s.d_fake)
        return {"loss": critic_loss, "w_estimate": -critic_loss}

    @torch.no_grad()
    def after_critic_step(self) -> None:
        if self.clip_value is None:
            return
        for p in self.critic.parameters():  # WGAN Alg. 1 l.7: w <- clip(w, -c, c), all parameters
            p.clamp_(-self.clip_value, self.clip_value)

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": wasserstein_generator_loss(s.d_fake)}
