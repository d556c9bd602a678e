"""Meaningful loss curves and overfitting (Sec. 5.6, Fig. 5b): the critic's W estimate on held-out data."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from wgangp.evaluation.base import Artifact, Evaluator, Image, device_of, in_chunks
from wgangp.plots import save_curves
from wgangp.rng import EVAL, step_generator


class CriticValidation(Evaluator):
    """The negative critic loss without penalty, E[D(real)] - E[D(G(z))], on two fixed sets of
    `num_samples` real points: held-out ones (`val/w_estimate`) and training ones
    (`val/w_estimate_train`), both against the same generated points, the critic in eval mode. Their
    difference `val/w_estimate_gap` is the overfitting signal of Sec. 5.6: a critic that memorises its
    training data scores it above unseen data of the same distribution. (`train/w_estimate`, from the
    training steps with the critic in train mode, is the objective's.) Writes `w_estimate.png`
    (Fig. 5b's panel) at the end.
    """

    def __init__(
        self,
        out_dir: str,
        every_n_iters: int = 1000,
        num_samples: int = 1000,
        batch_size: int = 500,
        at_start: bool = False,
    ) -> None:
        super().__init__(every_n_iters, at_start)
        self.out_dir = Path(out_dir)
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self._points: dict[str, torch.Tensor] = {}
        self._z: torch.Tensor | None = None

    def setup(self, datamodule, objective) -> None:
        # index 1: not the points the quality metrics or W1 use, fixed for the whole run
        n = self.num_samples
        self._points = {split: datamodule.eval_samples(n, index=1, split=split) for split in ("train", "val")}
        self._z = torch.randn(n, objective.latent_dim, generator=step_generator(objective.seed, 1, EVAL))

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        device = device_of(critic)
        score = lambda x: float(in_chunks(lambda c: critic(c.to(device)).flatten(), x, self.batch_size).mean())
        fake = in_chunks(lambda z: generator(z.to(device_of(generator))), self._z, self.batch_size)
        d_fake = score(fake)
        train = score(self._points["train"]) - d_fake
        val = score(self._points["val"]) - d_fake
        return {"val/w_estimate": val, "val/w_estimate_train": train, "val/w_estimate_gap": train - val}

    def finish(self, step: int) -> list[Artifact]:
        steps = [k for k, m in self.history if m]
        curves = {
            "training data": [m["val/w_estimate_train"] for _, m in self.history if m],
            "held-out data": [m["val/w_estimate"] for _, m in self.history if m],
        }
        path = save_curves(
            self.out_dir / "w_estimate.png", steps, curves, "negative critic loss E[D(real)] - E[D(G(z))]"
        )
        return [Image("val/w_estimate_curve", path)]
