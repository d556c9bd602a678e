"""What the critic sees (objective.augment): the images themselves, or their differentiable augmentation.

none: Alg. 1. diffaugment: every real and generated image the critic sees, in both players' steps, is augmented
with fresh draws (Zhao et al. 2020, DiffAugment: colour, translation, cutout). ada: the same transforms, each
applied to each sample with a probability p that ADA's heuristic drives toward a target sign of D on the reals
(Karras et al. 2020; wgangp.augment.AdaptiveAugment). The augmentation is per sample, so a penalty on interpolates
stays per sample: each interpolate is augmented on its own and the gradient is taken w.r.t. the interpolate, through
the augmentation (as StyleGAN2-ADA takes R1's w.r.t. the reals before its pipeline). The draws come from the
generator iteration's own stream (wgangp.rng.AUGMENT), so a resumed run redraws them exactly; ADA's p and its
part-filled interval are checkpoint state.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from wgangp.augment import DEFAULT_POLICY, AdaptiveAugment, augment, parse_policy
from wgangp.rng import AUGMENT, step_generator

AUGMENTS = ("none", "diffaugment", "ada")


class CriticView:
    def __init__(
        self,
        mode: str = "none",
        policy: str = DEFAULT_POLICY,
        seed: int = 0,
        ada_target: float = 0.6,
        ada_kimg: float = 500.0,
    ) -> None:
        if mode not in AUGMENTS:
            raise ValueError(f"objective.augment={mode!r} must be one of {', '.join(AUGMENTS)}")
        parse_policy(policy)  # an unknown transform fails here, before training
        self.mode, self.policy, self.seed = mode, policy, int(seed)
        self.ada = AdaptiveAugment(target=ada_target, ada_kimg=ada_kimg) if mode == "ada" else None
        self._rng: torch.Generator | None = None

    @property
    def active(self) -> bool:
        return self.mode != "none"

    def start_iteration(self, iteration: int, device: torch.device) -> None:
        """The draws of generator iteration `iteration` come from its own stream (exact on resume)."""
        if self.active:
            self._rng = step_generator(self.seed, iteration, AUGMENT, device)
        if self.ada is not None:  # p on the device before its first update (and after a resume, which loads to CPU)
            self.ada.to(device)

    def __call__(self, x: Tensor) -> Tensor:
        """What the critic sees of the image batch x (N, C, H, W)."""
        if not self.active:
            return x
        if self._rng is None:
            raise RuntimeError("CriticView.start_iteration must run before the first augmentation of an iteration")
        return augment(x, self.policy, self._rng, p=None if self.ada is None else self.ada.p)

    def observe_scores(self, d_real: Tensor, d_fake: Tensor | None) -> None:
        """ADA: count one critic step's scores toward the next adjustment of p. ADA's heuristic is the sign of D on
        the (augmented) reals; a Wasserstein critic's scores have no zero (adding a constant changes no loss), so
        the sign is taken of D(real) - E[D(fake)] where the step scored fakes: for a logit critic it asks the same
        question, whether the critic ranks the reals above its fakes."""
        if self.ada is not None:
            self.ada.update(d_real if d_fake is None else d_real - d_fake.detach().mean())

    def rng_state(self) -> Tensor | None:
        return None if self._rng is None else self._rng.get_state()

    def set_rng_state(self, state: Tensor | None) -> None:
        if state is not None and self._rng is not None:
            self._rng.set_state(state)

    def logged(self) -> dict[str, Tensor]:
        """ADA's p and its last r_t, for train/ logs."""
        if self.ada is None:
            return {}
        out = {"ada_p": self.ada.p}
        return out if self.ada.rt is None else {**out, "ada_rt": self.ada.rt}

    def state_dict(self) -> dict[str, Any]:
        return {} if self.ada is None else {"ada": self.ada.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ada is not None and "ada" in state:
            self.ada.load_state_dict(state["ada"])
