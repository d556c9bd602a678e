"""RpGAN + R1 + R2 (Huang, Gokaslan, Kuleshov and Tompkin 2024, "The GAN is dead; long live the GAN!", R3GAN): the
relativistic pairing loss with zero-centred gradient penalties on the reals (R1) and on the fakes (R2)."""

from __future__ import annotations

from typing import Annotated

from torch import Tensor

from wgangp.losses import rpgan_critic_loss, rpgan_generator_loss
from wgangp.objectives.base import GANObjective
from wgangp.objectives.step import Step
from wgangp.rules import NON_NEGATIVE


class RpGANR1R2(GANObjective):
    """Critic: E[softplus(D(G(z_i)) - D(x_i))] + gamma / 2 (E||grad D(x)||^2 + E||grad D(G(z))||^2), real i paired
    with fake i; generator: E[softplus(D(x_i) - D(G(z_i)))], the mirror, which reads D(real) too.

    Args:
        gamma: the weight of R1 + R2. R3GAN tunes it per data set and anneals it over training; 1.0 is this
            project's constant default for DCGAN-sized nets on 28-32 px images.
        **kwargs: the loop's arguments (see GANObjective). The generator's batch must equal the critic's
            (objective.generator_batch_size=null): the loss pairs each fake with a real.
    """

    uses_gradient_penalty = True

    def __init__(self, *, gamma: Annotated[float, NON_NEGATIVE] = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.generator_batch_size is not None:
            raise ValueError(
                f"objective=rpgan_r1r2 pairs each fake with a real, so the generator's batch is the critic's: use "
                f"objective.generator_batch_size=null (got {self.generator_batch_size})"
            )
        self.gamma = float(gamma)

    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        r1 = s.zero_centred_penalty("real")  # its forwards are D(real) and D(fake): shared with the loss
        r2 = s.zero_centred_penalty("fake")  # R2: the gradient at the fakes
        return {
            "loss": rpgan_critic_loss(s.d_real, s.d_fake) + 0.5 * self.gamma * (r1 + r2),
            "r1_penalty": r1,  # unweighted (times k on the steps a lazy penalty runs)
            "r2_penalty": r2,
            "d_gap": (s.d_real - s.d_fake).mean(),  # E[D(x_i) - D(G(z_i))], what the loss pushes up
        }

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        return {"loss": rpgan_generator_loss(s.d_real, s.d_fake)}
