"""Meaningful loss curves and overfitting (Sec. 5.6, Fig. 5b): the critic's W estimate on held-out data."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from wgangp.evaluation.base import Artifact, Evaluator, Image, device_of, in_chunks, output_dir
from wgangp.evaluation.context import EvalContext, generate
from wgangp.nets.conditional import takes_labels
from wgangp.plots import save_curves


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
        out_dir: str | None = None,
        every_n_iters: int = 1000,
        num_samples: int = 1000,
        batch_size: int = 500,
        at_start: bool = False,
    ) -> None:
        super().__init__(every_n_iters, at_start)
        self.out_dir = Path(out_dir) if out_dir else None  # None: the run directory (context.out_dir)
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self._points: dict[str, torch.Tensor] = {}
        self._z: torch.Tensor | None = None

    def setup(self, datamodule, context: EvalContext) -> None:
        self.out_dir = output_dir(self.out_dir, context)
        n = self.num_samples
        # a critic that takes labels scores real points at their own labels and fakes at the labels drawn
        self._points = {split: datamodule.eval_batch(n, index=1, split=split) for split in ("train", "val")}
        # its own named stream (wgangp.rng.EVAL_STREAMS): fixed for the whole run
        self._z, self._labels = context.draw(n, context.rng("critic_validation"))

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        rows = torch.arange(len(self._z))
        fake = in_chunks(lambda r: generate(generator, self._z[r], self._at(self._labels, r)), rows, self.batch_size)
        d_fake = self._mean_score(critic, fake, self._labels)
        train = self._mean_score(critic, self._points["train"]["real"], self._points["train"].get("label")) - d_fake
        val = self._mean_score(critic, self._points["val"]["real"], self._points["val"].get("label")) - d_fake
        return {"val/w_estimate": val, "val/w_estimate_train": train, "val/w_estimate_gap": train - val}

    @staticmethod
    def _at(labels: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor | None:
        return None if labels is None else labels[rows]

    def _mean_score(self, critic: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> float:
        """Mean of D(x), or of D(x, y) for a critic that takes labels, in chunks on the critic's device."""
        device = device_of(critic)
        if takes_labels(critic):
            score = lambda r: critic(x[r].to(device), labels[r].to(device))  # noqa: E731
        else:
            score = lambda r: critic(x[r].to(device))  # noqa: E731
        return float(in_chunks(lambda r: score(r).flatten(), torch.arange(len(x)), self.batch_size).mean())

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
