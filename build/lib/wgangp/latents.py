"""InfoGAN's structured latent (Chen et al. 2016): codes c written into the last entries of z.

z (N, latent_dim) = [noise (N, latent_dim - code_dim) ~ N(0, I) | one-hot c_1 | ... | one-hot c_K |
continuous codes (N, continuous) ~ U(-1, 1)], as InfoGAN's MNIST setup (a 10-way categorical code and
continuous codes in [-1, 1]). Keeping the codes inside z leaves the generator an ordinary one: any
model's generator takes them, and a checkpoint's generator is rebuilt as usual (wgangp.sampling reads
the layout back from the run's objective config, `LatentCodes.from_config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class LatentCodes:
    """The layout of InfoGAN's codes inside z.

    Args:
        latent_dim: the generator's whole input size.
        categorical: the number of values of each categorical code (e.g. (10,)).
        continuous: the number of continuous codes, each U(-1, 1).
    """

    latent_dim: int
    categorical: tuple[int, ...] = (10,)
    continuous: int = 0

    def __post_init__(self) -> None:
        if any(k < 2 for k in self.categorical) or self.continuous < 0:
            raise ValueError(f"categorical codes need >= 2 values each and continuous >= 0; got {self}")
        if self.code_dim >= self.latent_dim:
            raise ValueError(
                f"the codes take {self.code_dim} of z's {self.latent_dim} entries and leave no noise: raise "
                "model.generator.latent_dim or use fewer codes"
            )

    @classmethod
    def from_config(cls, objective: dict | None, latent_dim: int) -> LatentCodes | None:
        """The layout of a run's objective config (a dict), or None for a run without codes."""
        if not objective or "categorical_codes" not in objective:
            return None
        categorical = tuple(int(k) for k in objective["categorical_codes"])
        return cls(int(latent_dim), categorical, int(objective["continuous_codes"]))

    @property
    def code_dim(self) -> int:
        return sum(self.categorical) + self.continuous

    @property
    def noise_dim(self) -> int:
        return self.latent_dim - self.code_dim

    def sample(self, n: int, rng: torch.Generator, device: torch.device | str = "cpu") -> Tensor:
        """z (n, latent_dim): noise, then one uniform value per categorical code, then U(-1, 1) codes."""
        noise = torch.randn(n, self.noise_dim, generator=rng, device=device)
        cats = [torch.randint(k, (n,), generator=rng, device=device) for k in self.categorical]
        cont = torch.rand(n, self.continuous, generator=rng, device=device) * 2 - 1
        return self.join(noise, cats, cont)

    def join(self, noise: Tensor, categorical: Sequence[Tensor], continuous: Tensor | None = None) -> Tensor:
        """z from its parts: noise (n, noise_dim), categorical values [(n,) int64], continuous (n, continuous)."""
        parts = [noise] + [F.one_hot(c, k).to(noise.dtype) for c, k in zip(categorical, self.categorical, strict=True)]
        if self.continuous:
            parts.append(continuous.to(noise.dtype))
        return torch.cat(parts, dim=1)

    def split(self, z: Tensor) -> tuple[list[Tensor], Tensor]:
        """(categorical values [(n,) int64], continuous codes (n, continuous)) read back from z."""
        offset, cats = self.noise_dim, []
        for k in self.categorical:
            cats.append(z[:, offset : offset + k].argmax(1))
            offset += k
        return cats, z[:, offset:]

    def q_size(self) -> int:
        """Outputs of Q: logits for every categorical code, then one mean per continuous code."""
        return self.code_dim

    def q_parts(self, q: Tensor) -> tuple[list[Tensor], Tensor]:
        """Q's output (n, q_size) -> ([logits (n, k) per categorical code], means (n, continuous))."""
        logits = list(q[:, : sum(self.categorical)].split(list(self.categorical), dim=1))
        return logits, q[:, sum(self.categorical) :]

    def info_loss(self, q: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """-L_I up to constants (InfoGAN Eq. 4's lower bound on I(c; G(z, c))): the cross-entropy of each
        categorical code plus, per continuous code, the Gaussian negative log-likelihood with unit
        variance, 0.5 (mu - c)^2; averaged over the batch. Also returns Q's accuracy on the categorical
        codes (mean over codes)."""
        cats, cont = self.split(z)
        logits, means = self.q_parts(q)
        loss = sum(F.cross_entropy(lg, c) for lg, c in zip(logits, cats, strict=True))
        if self.continuous:
            loss = loss + 0.5 * (means - cont).pow(2).sum(1).mean()
        accuracy = torch.stack([(lg.argmax(1) == c).float().mean() for lg, c in zip(logits, cats, strict=True)]).mean()
        return loss, accuracy
