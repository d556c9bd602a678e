"""WGAN-GP with an auxiliary classifier (AC-GAN, Odena et al. 2017): Table 3's supervised ResNet (8.42),
as the released gan_cifar_resnet.py trains it with CONDITIONAL = ACGAN = True."""

from __future__ import annotations

from typing import Annotated

import torch
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
    the WGAN score D alone, and the critic's cross-entropy sees real images only, as released. Both heads
    read one trunk pass over what the critic sees (objective.augment's view of the images, as the score does
    in every other objective), so the class head and the score never see different images.

    The released scales (1, 0.1) were set for 100K iterations of the 128-channel CIFAR-10 ResNet at lr 2e-4.
    In short runs a generator term of 0.1 x CE is too weak to condition (docs/reproducing.md: at 3000
    iterations on Fashion-MNIST the samples stay at chance); conf/experiment/fashion_conditional.yaml uses 1.

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

    def _scores_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(D (n,), C's logits (n, num_classes)) of images x as the critic sees them (objective.augment)."""
        return self.critic.scores_and_logits(self.view(x))

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        m = s.real.size(0)
        if self.joint_critic_forward:  # a penalised critic scores each sample alone: one pass over both batches
            # gan_cifar_resnet.py: Discriminator(real_and_fake_data) gives disc_all and disc_all_acgan together
            scores, logits = self._scores_and_logits(torch.cat([s.real, s.fake]))  # (2m,), (2m, num_classes)
            d_real, d_fake, logits = scores[:m], scores[m:], logits[:m]
        else:  # batch statistics stay those of the real and of the fake batch
            d_real, logits = self._scores_and_logits(s.real)
            d_fake = self._scores_and_logits(s.fake)[0]
        s.scored(d_real=d_real, d_fake=d_fake)  # the WGAN-GP terms below read these: no second trunk pass
        terms = super().critic_loss(s)  # W estimate and the penalty on the score head D alone
        # gan_cifar_resnet.py: disc_acgan_costs ... logits=disc_all_acgan[:BATCH_SIZE/len(DEVICES_A)]: reals only
        ce = F.cross_entropy(logits, s.labels)
        terms["loss"] = terms["loss"] + self.acgan_scale * ce
        terms["acgan_critic_ce"] = ce
        terms["acgan_real_accuracy"] = (logits.argmax(1) == s.labels).float().mean()
        return terms

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        # gan_cifar_resnet.py: disc_fake, disc_fake_acgan = Discriminator(Generator(n_samples, fake_labels), ...)
        scores, logits = self._scores_and_logits(s.fake)  # one trunk pass for the score and the classes
        s.scored(d_fake=scores)
        terms = super().generator_loss(s)
        ce = F.cross_entropy(logits, s.labels)  # fake_labels: uniform draws of the step's stream
        terms["loss"] = terms["loss"] + self.acgan_scale_g * ce  # gen_cost += ACGAN_SCALE_G * gen_acgan_costs
        terms["acgan_generator_ce"] = ce
        terms["acgan_fake_accuracy"] = (logits.argmax(1) == s.labels).float().mean()
        return terms
