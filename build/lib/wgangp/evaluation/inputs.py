"""What evaluators feed a generator: z from the run's latent prior, and labels for a conditional one.

One place for it, so every evaluator and wgangp.sample draw what the training loop would: z ~ N(0, I),
or z with InfoGAN codes (wgangp.latents.LatentCodes); uniform class labels after z for a class-conditional
generator (wgangp.nets.conditional), as the generator step draws its fake labels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wgangp.latents import LatentCodes
from wgangp.nets.conditional import takes_labels, uniform_labels


def draw_inputs(
    generator: nn.Module, n: int, rng: torch.Generator, codes: LatentCodes | None = None
) -> tuple[Tensor, Tensor | None]:
    """(z (n, latent_dim), labels (n,) or None), drawn from `rng` on the CPU in that order."""
    z = codes.sample(n, rng) if codes is not None else torch.randn(n, generator.latent_dim, generator=rng)
    labels = uniform_labels(n, generator.num_classes, rng) if takes_labels(generator) else None
    return z, labels


def generate(generator: nn.Module, z: Tensor, labels: Tensor | None = None) -> Tensor:
    """G(z), or G(z, y) for a class-conditional generator; inputs moved to the generator's device."""
    device = next(generator.parameters()).device
    if takes_labels(generator):
        return generator(z.to(device), labels.to(device))
    return generator(z.to(device))


def latent_codes(objective) -> LatentCodes | None:
    """The objective's InfoGAN code layout, None for objectives without codes."""
    return getattr(objective, "latent_codes", None)
