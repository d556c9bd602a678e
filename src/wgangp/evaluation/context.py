"""What an evaluator knows about the run: one frozen `EvalContext`, built in one place for every path.

The periodic callback (training), src/eval.py (a checkpoint) and wgangp.sample (sampling a checkpoint) all
build it with `eval_context` (or `objective_context`, which reads an objective once), and evaluators take
everything beyond the data module and the nets they score from it: the root seed and its named random
streams, the latent prior (z ~ N(0, I), or z with InfoGAN codes, wgangp.latents.LatentCodes) and the uniform
class labels of a class-conditional generator, drawn as the training loop draws them, the run's resolved
config, its directory and the device. No evaluator reads the LightningModule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from wgangp.latents import LatentCodes
from wgangp.nets.conditional import takes_labels, uniform_labels
from wgangp.rng import eval_generator


@dataclass(frozen=True)
class EvalContext:
    """The fixed facts of one run that evaluators read in `setup` (and may keep for `evaluate`).

    Args:
        seed: the root seed of the evaluation inputs (training: the run's `seed`; src/eval.py and
            wgangp.sample: their `seed=`).
        latent_dim: the generator's input size; z is (n, latent_dim).
        num_classes: a class-conditional generator's classes (it takes (z, labels)); None for one that
            takes z alone.
        codes: InfoGAN's code layout (the last entries of z); None for objectives without codes.
        run_config: the run's resolved config (read-only at the top level; `run_config["data"]` names the
            data set, e.g. for the reference statistics' cache key). Empty where only a generator is known.
        out_dir: the run directory, where evaluators write their files by default.
        device: where the nets are evaluated (training: the trainer's root device on this rank).
        q_output: InfoGAN's Q head, images (n, C, H, W) -> (n, codes.q_size()); None without codes.
    """

    seed: int
    latent_dim: int
    num_classes: int | None = None
    codes: LatentCodes | None = None
    run_config: Mapping[str, Any] = field(default_factory=dict)
    out_dir: Path = Path(".")
    device: torch.device = torch.device("cpu")
    q_output: Callable[[Tensor], Tensor] | None = None

    @property
    def conditional(self) -> bool:
        """Whether the generator takes class labels (G(z, y))."""
        return self.num_classes is not None

    def rng(self, name: str) -> torch.Generator:
        """The CPU generator of evaluation input `name` (wgangp.rng.eval_generator(seed, name)): a new name
        gets a stream of its own; names in wgangp.rng.EVAL_STREAMS keep the index they always had."""
        return eval_generator(self.seed, name)

    def noise(self, n: int, rng: torch.Generator) -> Tensor:
        """Plain z ~ N(0, I), (n, latent_dim), ignoring codes and labels (the toy and text evaluators' z)."""
        return torch.randn(n, self.latent_dim, generator=rng)

    def draw(self, n: int, rng: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """What the training loop feeds the generator: (z (n, latent_dim) from the prior, with InfoGAN codes
        where the run has them; uniform labels (n,) after z for a class-conditional generator, else None),
        drawn from `rng` on the CPU in that order."""
        z = self.codes.sample(n, rng) if self.codes is not None else self.noise(n, rng)
        labels = uniform_labels(n, self.num_classes, rng) if self.conditional else None
        return z, labels


def generate(generator: nn.Module, z: Tensor, labels: Tensor | None = None) -> Tensor:
    """G(z), or G(z, y) for a class-conditional generator; inputs moved to the generator's device."""
    device = next(generator.parameters()).device
    if takes_labels(generator):
        return generator(z.to(device), labels.to(device))
    return generator(z.to(device))


def eval_context(
    generator: nn.Module,
    seed: int,
    *,
    codes: LatentCodes | None = None,
    run_config: Mapping[str, Any] | None = None,
    out_dir: str | Path = ".",
    device: torch.device | str | None = None,
    q_output: Callable[[Tensor], Tensor] | None = None,
) -> EvalContext:
    """The context of `generator` (its latent_dim and, if it takes labels, num_classes): the one place it is
    built. `device` defaults to where the generator's parameters are."""
    return EvalContext(
        seed=int(seed),
        latent_dim=int(generator.latent_dim),
        num_classes=int(generator.num_classes) if takes_labels(generator) else None,
        codes=codes,
        run_config=MappingProxyType(dict(run_config or {})),
        out_dir=Path(out_dir),
        device=torch.device(device) if device is not None else next(generator.parameters()).device,
        q_output=q_output if codes is not None else None,
    )


def objective_context(
    objective, *, out_dir: str | Path, device: torch.device | str | None = None, seed: int | None = None
) -> EvalContext:
    """The context of a built objective (wgangp.build.build): its generator, root seed (or `seed`), InfoGAN
    codes and Q head, and run config. The one reading of the LightningModule evaluators rely on."""
    codes = getattr(objective, "latent_codes", None)
    return eval_context(
        objective.generator,
        objective.seed if seed is None else seed,
        codes=codes,
        run_config=objective.run_config,
        out_dir=out_dir,
        device=device,
        q_output=getattr(objective, "q_output", None),
    )
