"""A hinge GAN loss with a margin m other than 1: critic E[max(0, m - D(x))] + E[max(0, m + D(G(z)))], generator
-E[D(G(z))]. The worked example of adding an objective without forking wgangp (README, "As a library")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from wgangp.objectives.base import GANObjective


class MarginHinge(GANObjective):
    """The hinge loss of wgangp.objectives.hinge with margin `margin` (1 is the usual hinge)."""

    def __init__(self, *, margin: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.margin = float(margin)

    def critic_terms(
        self, real: Tensor, fake: Tensor, rng: torch.Generator, labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        d_real, d_fake = self.critic_scores(real, fake, labels)
        loss = F.relu(self.margin - d_real).mean() + F.relu(self.margin + d_fake).mean()
        return {"critic_loss": loss, "d_real": d_real.mean(), "d_fake": d_fake.mean()}

    def generator_terms(self, d_fake: Tensor) -> dict[str, Tensor]:
        return {"generator_loss": -d_fake.mean()}
