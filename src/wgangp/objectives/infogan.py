"""InfoGAN (Chen et al. 2016; the GAN lecture notes): a GAN whose generator also maximises a
variational lower bound on the mutual information I(c; G(z, c)) between latent codes c and its samples.

Q(c | x) is a small head on the critic's trunk (`critic.features`), trained with the generator on
L_I of generated samples (min over G and Q of the GAN loss + info_weight * (-L_I)); the trunk itself is
trained by the adversarial loss only. The codes live in z (wgangp.latents.LatentCodes), so any
generator works. `objective=infogan` is the standard (non-saturating) GAN, as the InfoGAN paper;
`objective=infogan_wgan_gp` the same with WGAN-GP's critic loss.
"""

from __future__ import annotations

from typing import Annotated

from torch import Tensor, nn

from wgangp.latents import LatentCodes
from wgangp.objectives.gan import StandardGAN
from wgangp.objectives.step import Step
from wgangp.objectives.wgan_gp import WGANGP
from wgangp.rules import NON_NEGATIVE, Rule, count

CODES = Rule("numbers", lo=2, note="values of each categorical code, integers")


class InfoTerms:
    """The InfoGAN part shared by both adversarial losses (put first in the bases).

    Args:
        categorical_codes: values of each categorical code (InfoGAN's MNIST: [10]).
        continuous_codes: number of U(-1, 1) codes (InfoGAN's MNIST: 2).
        info_weight: lambda of InfoGAN Eq. 5 (1 for discrete codes in the paper).
        q_width: hidden width of Q's head (InfoGAN's MNIST Q: FC 128).
    """

    #: z carries codes in its last entries, so the generator's latent_dim must exceed their size
    uses_latent_codes = True

    def __init__(
        self,
        *,
        categorical_codes: Annotated[list[int], CODES] = (10,),
        continuous_codes: Annotated[int, count(0)] = 2,
        info_weight: Annotated[float, NON_NEGATIVE] = 1.0,
        q_width: Annotated[int, count(1)] = 128,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        critic = self.critic
        if not hasattr(critic, "features") or getattr(critic, "takes_labels", False):
            raise ValueError(
                f"InfoGAN's Q reads the critic's trunk (critic.features); {type(critic).__name__} has none or is "
                "class-conditional: use an unconditional model with a trunk (dcgan, resnet, mlp, toy_mlp)"
            )
        categorical = tuple(int(k) for k in categorical_codes)
        self.latent_codes = LatentCodes(self.latent_dim, categorical, int(continuous_codes))
        self.info_weight = float(info_weight)
        self.q_head = nn.Sequential(
            nn.Linear(critic.feature_dim, q_width), nn.LeakyReLU(0.2), nn.Linear(q_width, self.latent_codes.q_size())
        )

    def sample_latent(self, n: int, rng) -> Tensor:
        """z with codes (wgangp.latents.LatentCodes.sample), shape (n, latent_dim)."""
        return self._per_rank(lambda k: self.latent_codes.sample(k, rng, self.device), n)

    def q_output(self, x: Tensor) -> Tensor:
        """Q's raw output for images x: (n, q_size) (see LatentCodes.q_parts)."""
        return self.q_head(self.critic.features(x))

    def configure_optimizers(self):
        opt_g, opt_d = super().configure_optimizers()
        opt_g.add_param_group({"params": list(self.q_head.parameters())})  # Q is minimised with G (L_I)
        return [opt_g, opt_d]

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        h = self.critic.features(self.view(s.fake))  # one trunk pass for the score and Q, of what the critic sees
        s.scored(d_fake=self.critic.head(h))
        terms = super().generator_loss(s)  # the adversarial loss of StandardGAN or WGANGP
        info, accuracy = self.latent_codes.info_loss(self.q_head(h), s.z)
        terms["loss"] = terms["loss"] + self.info_weight * info
        terms["info_loss"] = info  # -L_I up to constants, unweighted
        terms["info_accuracy"] = accuracy  # Q recovering the categorical codes of this batch
        return terms


class InfoGAN(InfoTerms, StandardGAN):
    """InfoGAN on the standard GAN objective (non-saturating generator), as Chen et al. 2016."""


class InfoWGANGP(InfoTerms, WGANGP):
    """InfoGAN's mutual-information term on WGAN-GP's critic loss (the penalty sees the score head only)."""
