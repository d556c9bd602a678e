"""Checks on a composed config before anything is built, so a bad value costs seconds, not a GPU-day.

Every problem found is reported at once, each as one sentence naming the field, the value, what is
allowed and the fix. Constructors validate their own arguments too (for library users); these
checks exist so the command line can name the config field.
"""

from __future__ import annotations

from collections.abc import Iterator

from omegaconf import DictConfig

from wgangp.errors import UserInputError


def _optimizers(cfg: DictConfig) -> Iterator[tuple[str, DictConfig]]:
    for name in ("optimizer", "generator_optimizer"):
        opt = cfg.objective.get(name)
        if opt is not None:
            yield f"objective.{name}", opt


def config_problems(cfg: DictConfig) -> list[str]:
    """Every invalid value in `cfg`, as sentences; empty when the config is usable."""
    problems = []

    def need(ok: bool, field: str, value, rule: str) -> None:
        if not ok:
            problems.append(f"{field}={value} is invalid: it must be {rule}.")

    need(int(cfg.generator_iters) >= 1, "generator_iters", cfg.generator_iters, "at least 1")
    obj = cfg.objective
    need(int(obj.get("n_critic", 1)) >= 1, "objective.n_critic", obj.get("n_critic"), "at least 1")
    for field in ("gp_weight", "gamma", "critic_weight_decay"):
        if obj.get(field) is not None:
            need(float(obj[field]) >= 0, f"objective.{field}", obj[field], ">= 0")
    if obj.get("clip_value") is not None:
        need(float(obj.clip_value) > 0, "objective.clip_value", obj.clip_value, "> 0 (the WGAN paper uses 0.01)")
    for field, opt in _optimizers(cfg):
        if opt.get("lr") is not None:
            need(float(opt.lr) > 0, f"{field}.lr", opt.lr, "> 0")
    if cfg.data.get("batch_size") is not None:
        need(int(cfg.data.batch_size) >= 1, "data.batch_size", cfg.data.batch_size, "at least 1")
    latent = cfg.model.generator.get("latent_dim")
    if latent is not None:
        need(int(latent) >= 1, "model.generator.latent_dim", latent, "at least 1")
    return problems


def check_config(cfg: DictConfig) -> None:
    """Raise UserInputError listing every problem of `cfg`."""
    problems = config_problems(cfg)
    if problems:
        raise UserInputError(" ".join(problems) + " Fix the value(s) on the command line or in the config file.")
