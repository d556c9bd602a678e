"""The relativistic average standard GAN (Jolicoeur-Martineau 2018, RaSGAN): the critic estimates how much more
realistic a real sample is than the average fake, and the generator the reverse."""

from __future__ import annotations

from torch import Tensor

from wgangp.losses import ragan_critic_loss, ragan_generator_loss
from wgangp.objectives.base import GANObjective
from wgangp.objectives.step import Step


class RaGAN(GANObjective):
    """Critic: E[softplus(E D(G(z)) - D(x))] + E[softplus(D(G(z)) - E D(x))]; generator: the same with real and
    fake swapped, so its loss reads D(real) as well (Jolicoeur-Martineau 2018, Eq. 12 and 13, on logits)."""

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": ragan_critic_loss(s.d_real, s.d_fake), "d_gap": s.d_real.mean() - s.d_fake.mean()}

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": ragan_generator_loss(s.d_real, s.d_fake)}
