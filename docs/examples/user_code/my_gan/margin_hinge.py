"""A hinge GAN loss with a margin m other than 1: critic E[max(0, m - D(x))] + E[max(0, m + D(G(z)))], generator
-E[D(G(z))]. The worked example of adding an objective without forking wgangp (README, "As a library")."""

from __future__ import annotations

from typing import Annotated

import torch.nn.functional as F
from torch import Tensor

from wgangp.objectives.base import GANObjective
from wgangp.objectives.step import Step
from wgangp.rules import POSITIVE


class MarginHinge(GANObjective):
    """The hinge loss of wgangp.objectives.hinge with margin `margin` (1 is the usual hinge)."""

    # The typed argument is the field's schema: objective.margin=0 or margin=abc is refused before training.
    def __init__(self, *, margin: Annotated[float, POSITIVE] = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.margin = float(margin)

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        loss = F.relu(self.margin - s.d_real).mean() + F.relu(self.margin + s.d_fake).mean()
        return {"loss": loss, "d_real": s.d_real.mean(), "d_fake": s.d_fake.mean()}  # logged as train/...

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": -s.d_fake.mean()}
