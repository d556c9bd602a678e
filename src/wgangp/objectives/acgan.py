"""WGAN-GP with an auxiliary classifier (AC-GAN, Odena et al. 2017): Table 3's supervised ResNet (8.42),
as the released gan_cifar_resnet.py trains it with CONDITIONAL = ACGAN = True."""

from __future__ import annotations

from typing import Annotated

import torch.nn.functional as F
from torch import Tensor

from wgangp.objectives.step import Step
from wgangp.objectives.wgan_gp import WGANGP
from wgangp.rules import NON_NEGATIVE


class WGANGPACGAN(WGANGP):
    """WGAN-GP's losses plus cross-entropies of the critic's class head (released gan_cifar_resnet.py):

        critic:    E[D(fake)] - E[D(real)] + gp_weight * GP + acgan_scale * CE(C(real), y_real)
        generator: -E[D(G(z, y))] + acgan_scale_g * CE(C(G(z, y)), y),  y uniform over the classes

    D and C share the critic's trunk (`critic.scores_and_logits`, model=resnet_acgan); the penalty is on
    the WGAN score D alone, and the critic's cross-entropy sees real images only, as released.

    Args:
        acgan_scale: ACGAN_SCALE of the released code (1).
        acgan_scale_g: ACGAN_SCALE_G (0.1).
        **kwargs: WGANGP's (gp_weight, one_sided) and the loop's.
    """

    needs_labels = True

    def __init__(
        self,
        *,
        acgan_scale: Annotated[float, NON_NEGATIVE] = 1.0,
        acgan_scale_g: Annotated[float, NON_NEGATIVE] = 0.1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not hasattr(self.critic, "scores_and_logits"):
            raise ValueError(
                f"objective=wgan_gp_acgan needs a critic with a class head (scores_and_logits); "
                f"{type(self.critic).__name__} has none: use model=resnet_acgan or model=dcgan_acgan"
            )
        self.acgan_scale = float(acgan_scale)
        self.acgan_scale_g = float(acgan_scale_g)

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        terms = super().critic_loss(s)  # WGAN-GP on the score head
        _, logits = self.critic.scores_and_logits(s.real)  # (m, num_classes)
        ce = F.cross_entropy(logits, s.labels)
        terms["loss"] = terms["loss"] + self.acgan_scale * ce
        terms["acgan_critic_ce"] = ce
        terms["acgan_real_accuracy"] = (logits.argmax(1) == s.labels).float().mean()
        return terms

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        scores, logits = self.critic.scores_and_logits(s.fake)  # one trunk pass for the score and the classes
        s.scored(d_fake=scores)
        terms = super().generator_loss(s)
        ce = F.cross_entropy(logits, s.labels)
        terms["loss"] = terms["loss"] + self.acgan_scale_g * ce
        terms["acgan_generator_ce"] = ce
        terms["acgan_fake_accuracy"] = (logits.argmax(1) == s.labels).float().mean()
        return terms
