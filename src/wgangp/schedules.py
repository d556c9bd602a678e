"""Learning-rate schedules counted in generator iterations (`objective.lr_decay`).

A schedule is a pure function of the generator iteration, so a resumed run sets exactly the lr an
uninterrupted one would (GANObjective applies it at the start of every generator iteration; Lightning
steps no schedulers under manual optimization).
"""

from __future__ import annotations

LR_DECAYS = ("none", "linear")


def lr_factor(decay: str, iteration: int, total: int | None) -> float:
    """Multiplier of the configured lr for generator iteration `iteration` (0-based: the iterations completed
    before it) of `total`.

    none: 1. linear: max(0, 1 - iteration / total), App. F and the released gan_cifar_resnet.py (`DECAY`),
    applied to both players: 1 at the first iteration, 1/total at the last, 0 from `total` on.
    """
    if decay == "none":
        return 1.0
    if decay == "linear":
        if not total or total < 1:
            raise ValueError(f"lr_decay=linear needs the schedule's length in generator iterations, got {total}")
        return max(0.0, 1.0 - iteration / total)
    raise ValueError(f"lr_decay={decay!r} must be one of {', '.join(LR_DECAYS)}")


def apply_lr_schedule(optimizers, decay: str, iteration: int, total: int | None) -> None:
    """Set every param group's lr to its configured lr (`initial_lr`) times the schedule's factor at `iteration`."""
    if decay == "none":
        return
    factor = lr_factor(decay, iteration, total)
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * factor
