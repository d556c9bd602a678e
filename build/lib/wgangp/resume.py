"""Resuming a run: which checkpoint `ckpt_path` names, and whether this config may continue it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from wgangp.errors import UserInputError

log = logging.getLogger("wgangp")

# What a resume may change, as dotted prefixes of the config (a prefix covers everything under it).
# Everything else defines the run (the data set and its shape, every field of both nets, the
# objective's fields, the seed behind every random stream, the batch size, the precision) and must
# match the checkpoint's stored run_config. These can be honoured by a continued run:
RESUMABLE = (
    "generator_iters",  # a longer run (a shorter one than the checkpoint's iteration is refused below)
    "ckpt_path",
    "trainer.max_time",
    "trainer.log_every_n_steps",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.detect_anomaly",
    "trainer.default_root_dir",
    "callbacks",  # checkpoint and logging intervals: they observe, never train
    "evaluators",  # which evaluations run, how often and how large
    "logger",  # which loggers and where they write
    "metrics",  # the evaluation's feature extractor and statistics cache
    "paths",
    "task_name",
    "run_name",
    "sweep",
    "data.num_workers",
    "data.download",
    "data.pin_memory",
    "data.persistent_workers",
    # optimizer hyperparameters are re-applied to the restored optimizer state (GANObjective.on_train_start);
    # the optimizer's class (its state layout) is not: objective.optimizer._target_ stays compared
    "objective.optimizer.lr",
    "objective.optimizer.betas",
    "objective.optimizer.eps",
    "objective.optimizer.weight_decay",
    "objective.optimizer.momentum",
    "objective.optimizer.alpha",
    "objective.generator_optimizer.lr",
    "objective.generator_optimizer.betas",
    "objective.generator_optimizer.eps",
    "objective.generator_optimizer.weight_decay",
    "objective.generator_optimizer.momentum",
    "objective.generator_optimizer.alpha",
    "objective.critic_weight_decay",
    # the lr schedule is a function of the iteration (wgangp.schedules), applied to the configured lr at every
    # generator iteration, so a resume honours a new one from its first iteration. lr_decay_iters follows
    # generator_iters (conf/train.yaml): a longer run stretches a linear schedule (the lr steps up), unless the
    # old length is passed, objective.lr_decay_iters=N. The generator batch, the weight average (its decay,
    # start, and whether the checkpoint holds one) and data.dequantize define the run: compared.
    "objective.lr_decay",
    "objective.lr_decay_iters",
)
# Stored by wgangp.build from the data module, not part of the composed config (derived from data.*).
DERIVED = ("vocabulary", "num_classes")


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path, runs_of_this_name: Path | None = None) -> str | None:
    """`ckpt_path=last`: this run directory's last.ckpt if it has one; in the default layout, where each launch of
    a run name gets a new timestamped folder under `runs_of_this_name` (logs/<task>/<run name>/), else the newest
    last.ckpt of the earlier launches there. A run directory given explicitly (hydra.run.dir=...) is never
    searched past: `last` is its own checkpoint or none. Any other value is a path."""
    if ckpt_path in (None, ""):
        return None
    if ckpt_path != "last":
        if not Path(ckpt_path).is_file():
            raise UserInputError(
                f"ckpt_path={ckpt_path} does not exist. Pass the path of a checkpoint a run wrote "
                "(<run dir>/checkpoints/last.ckpt), or ckpt_path=last for this run name's newest one."
            )
        return str(ckpt_path)
    own = output_dir / "checkpoints" / "last.ckpt"
    if own.is_file():
        return str(own)
    if runs_of_this_name is None or output_dir.resolve().parent != Path(runs_of_this_name).resolve():
        raise UserInputError(
            f"ckpt_path=last found no checkpoint in {output_dir}/checkpoints, the run directory given (an explicit "
            "run directory resumes only its own run; it never adopts another folder's). Nothing was trained. To "
            "start this run afresh, repeat the command without ckpt_path; to resume another run, pass its "
            "checkpoint: ckpt_path=/path/to/run/checkpoints/last.ckpt."
        )
    candidates = sorted(output_dir.parent.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UserInputError(
            f"ckpt_path=last found no last.ckpt in {output_dir}/checkpoints or in earlier runs under "
            f"{output_dir.parent}; pass the checkpoint's path instead: ckpt_path=/path/to/last.ckpt"
        )
    return str(candidates[-1])


def _flatten(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf value) pairs; lists are leaves (a net's widths, Adam's betas)."""
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, node


def _resumable(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in RESUMABLE)


_ABSENT = object()  # a key one side has and the other has not
# Fields added after checkpoint format 2, with the value that does what the code did before them: a checkpoint
# written before a field existed resumes under that value (any other value is a different setup).
ADDED_FIELDS = {"objective.feature_layer": None}


def _show(value: Any) -> str:
    text = "(absent)" if value is _ABSENT else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_resume_compatible(
    run_config: dict | None, cfg: DictConfig, ckpt_path: str, generator_iter: int | None = None
) -> None:
    """Refuse a resume whose config differs from the checkpoint's run_config in anything but RESUMABLE.

    Every difference is listed in one UserInputError, as `key: checkpoint value vs this run's value`;
    the resumable ones that changed are logged. `generator_iter` (the checkpoint's) refuses a
    generator_iters below it, which would train nothing.
    """
    if run_config is None:
        return
    current = OmegaConf.to_container(cfg, resolve=True)
    stored = dict(_flatten({k: v for k, v in run_config.items() if k not in DERIVED}))
    new = dict(_flatten(current))
    differing = [
        k
        for k in sorted(stored.keys() | new.keys())
        if stored.get(k, _ABSENT) != new.get(k, _ABSENT)
        and not (k not in stored and k in ADDED_FIELDS and new[k] == ADDED_FIELDS[k])
    ]
    refused = [k for k in differing if not _resumable(k)]
    if refused:
        listed = "; ".join(
            f"{k}: {_show(stored.get(k, _ABSENT))} (checkpoint) vs {_show(new.get(k, _ABSENT))} (this run)"
            for k in refused
        )
        raise UserInputError(
            f"ckpt_path={ckpt_path} was trained with a different setup, and a resume continues only the run it "
            f"came from: {listed}. Pass the checkpoint's values (the same data=/model=/objective= choices and "
            "overrides as that run, see its .hydra/overrides.yaml), or start a new run without ckpt_path. A "
            "resume may change only generator_iters, trainer.max_time and log_every_n_steps, callbacks.*, "
            "evaluators.*, logger.*, metrics.*, paths.*, data.num_workers and the optimizers' hyperparameters "
            "(lr, betas, eps, weight_decay, momentum, objective.lr_decay and lr_decay_iters)."
        )
    if generator_iter is not None and cfg.generator_iters < generator_iter:
        raise UserInputError(
            f"generator_iters={cfg.generator_iters} is below the {generator_iter} generator iterations "
            f"ckpt_path={ckpt_path} already holds, so the resume would train nothing. Pass "
            f"generator_iters={generator_iter + 1} or more, or sample from the checkpoint as it is (src/sample.py)."
        )
    changed = [k for k in differing if k not in ("ckpt_path",) and not k.startswith("paths.")]
    if changed:
        log.info(
            "resuming with changed settings: %s",
            "; ".join(f"{k}: {_show(stored.get(k, _ABSENT))} -> {_show(new.get(k, _ABSENT))}" for k in changed),
        )
