"""`val/diversity`: the mean pairwise L2 distance of generated samples of a fixed z (it falls when the generator
collapses onto few modes). The worked example of adding an evaluator (docs/architecture.md)."""

import torch

from wgangp.evaluation.base import Evaluator
from wgangp.evaluation.context import generate


class Diversity(Evaluator):
    """Mean pairwise L2 distance of `num_samples` samples G(z), the same z at every evaluation."""

    def __init__(self, every_n_iters: int = 1000, num_samples: int = 256) -> None:
        super().__init__(every_n_iters)
        self.num_samples = int(num_samples)

    def setup(self, datamodule, context) -> None:
        # z (and labels, for a class-conditional generator) from a named stream: no other evaluator's inputs
        self.z, self.labels = context.draw(self.num_samples, context.rng("diversity"))

    def evaluate(self, generator, critic) -> dict[str, float]:
        x = generate(generator, self.z, self.labels).flatten(1).float()  # (n, prod(data_shape))
        return {"val/diversity": float(torch.pdist(x).mean())}

    def describe(self) -> dict:
        return {"diversity_num_samples": self.num_samples}  # recorded by src/eval.py beside the score
