"""The NaN guard: the first generator iteration whose loss terms are not all finite, recorded without a host sync.

The record stays on the device, so the hot loop never waits for the host; `check` reads it (every
trainer.log_every_n_steps iterations, at every iteration on the CPU, and before every checkpoint) and stops the
run with the iteration and the terms.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wgangp.errors import NonFiniteError


class NonFiniteGuard:
    """The terms may differ between iterations (a lazily regularised run logs gradient norms on some only)."""

    def __init__(self) -> None:
        self.first_iter: Tensor | None = None  # -1: none yet
        self.bad: dict[str, Tensor] = {}  # per term: whether it was not finite at first_iter

    def track(self, terms: dict[str, Tensor], iteration: int, loss_scale: Tensor | None = None) -> None:
        """Record, without a host sync, whether this iteration is the first with a non-finite term. `loss_scale`:
        fp16's current scale, where an overflow in a step is the scaler's business (it skips that step and halves
        the scale); the run has diverged only when overflows persist until the scale is below 1."""
        values = torch.stack([v.detach().float().reshape(()) for v in terms.values()])
        bad = ~torch.isfinite(values)  # (K,)
        if loss_scale is not None:
            bad = bad & (loss_scale < 1)
        if self.first_iter is None:
            self.first_iter = torch.full((), -1, dtype=torch.long, device=values.device)
        first = (self.first_iter < 0) & bad.any()
        self.first_iter = torch.where(first, iteration, self.first_iter)
        now = dict(zip(terms, bad.unbind(), strict=True))
        no = torch.zeros((), dtype=torch.bool, device=values.device)
        for name in [*self.bad, *(n for n in now if n not in self.bad)]:  # first-seen order, for the message
            self.bad[name] = torch.where(first, now.get(name, no), self.bad.get(name, no))

    def check(self) -> None:
        """Raise NonFiniteError naming the first bad iteration and terms."""
        if self.first_iter is None or int(self.first_iter) < 0:
            return
        names = [f"train/{n}" for n, b in self.bad.items() if bool(b)]
        # which checkpoint holds the last good state is the caller's to add (wgangp.train knows the run's)
        raise NonFiniteError(
            f"non-finite {', '.join(names)} at generator iteration {int(self.first_iter)}: training stopped and no "
            "checkpoint was written after it. Lower the learning rate or check the data and the model's output "
            "scale; rerun with trainer.detect_anomaly=true to find the operation that produced it."
        )
