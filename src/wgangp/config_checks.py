"""Checks on a composed config before anything is built, so a bad value costs seconds, not a GPU-day.

One table per entry point maps config fields (patterns over dotted keys, `*` within one segment) to the type and
range they accept; every numeric leaf that no rule names must still be finite. Every problem found
is reported at once, each as one sentence naming the field, the value and what is allowed:

    train: check_config(cfg)          sample / eval: check_values(cfg, SAMPLE_RULES | EVAL_RULES, "...")

This is the one place a config value's type and range are checked (constructors take what they are
given; the loop's own preconditions stay in wgangp.objectives.base and wgangp.data.base): the command
line names the config field, and catches what int()/float() would silently truncate (1.5 -> 1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from wgangp.errors import UserInputError
from wgangp.objectives.schema import objective_class, objective_fields, unknown_field_problems
from wgangp.rules import (
    EMA_CHOICE,
    FLAG,
    FRACTION,
    INTERVAL,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    Rule,
    count,
    is_number,
)

# conf/train.yaml and its groups. The first matching pattern decides; fields without a rule need only
# be finite when they are numbers.
TRAIN_RULES: dict[str, Rule] = {
    "seed": SEED,
    "generator_iters": count(1, note="generator iterations, as the paper counts them"),
    # data (conf/data/)
    "data.batch_size": count(1, note="real samples per critic step"),
    "data.num_workers": count(0),
    "data.image_size": count(1),
    "data.channels": Rule("choice", choices=(1, 3)),
    "data.subset": count(1, nullable=True),
    "data.max_lines": count(1, nullable=True),
    "data.val_fraction": FRACTION,
    "data.seq_len": count(1),
    "data.vocab_size": count(3, note="unknown and padding take two ids"),
    "data.dequantize": FLAG,
    # model (conf/model/)
    "model.*.latent_dim": count(1),
    "model.*.width": count(1),
    "model.*.hidden_layers": count(0),
    "model.*.base_filters": count(1),
    "model.*.depth": count(4, note="the plain 32x32 DCGAN has 4 weight layers"),
    "model.*.channels": count(1),
    "model.*.dim": count(1),
    "model.*.blocks": count(1),
    "model.*.filter_scale": POSITIVE,
    "model.critic.spectral_norm": Rule("bool"),
    "model.critic.minibatch": Rule("choice", choices=("none", "discrimination", "stddev")),
    "model.critic.minibatch_kernel*": count(1),
    # objective: its fields' rules are the schema's and its class's (wgangp.objectives.schema); its optimizers'
    "objective.*optimizer.lr": POSITIVE,
    "objective.*optimizer.betas": Rule("numbers", lo=0, hi=1, hi_open=True, length=2),
    "objective.*optimizer.eps": POSITIVE,
    "objective.*optimizer.weight_decay": NON_NEGATIVE,
    "objective.*optimizer.momentum": FRACTION,
    "objective.*optimizer.alpha": FRACTION,
    # trainer, callbacks and evaluators: intervals and sizes
    "trainer.log_every_n_steps": count(0, note="0 logs never"),
    **{
        f"{group}.*.{field}": rule
        for group in ("callbacks", "evaluators")
        for field, rule in {
            "every_n_iters": INTERVAL
            if group == "callbacks"
            else count(0, note="in generator iterations; 0: at the end of training only; evaluators.NAME=null: off"),
            "last_every_n_iters": INTERVAL,
            "plot_every_n_iters": INTERVAL,
            "refresh_rate": count(0),
            "num_print": count(0),
            "num_real": count(1, nullable=True, note="null: every image of the split once"),
            "num_*": count(1),
            "batch_size": count(1),
            "kid_subset*": count(1),
            "splits": count(1),
            "warmup_iters": count(0),  # callbacks.timing (scripts/time_experiment.py)
            "min_count": count(1),
            "n_std": POSITIVE,
        }.items()
    },
}

# conf/eval.yaml
EVAL_RULES: dict[str, Rule] = {
    "seed": SEED,
    "overwrite": FLAG,
    "num_samples": count(1, nullable=True, note="null: each measure's protocol size"),
    # a protocol (conf/protocol/) sets these through conf/eval.yaml's `protocol:` node
    "num_real": count(0, nullable=True, note="null: every image of the split once; 0: none, IS alone"),
    "protocol.num_real": count(0, nullable=True, note="null: every image of the split once; 0: none, IS alone"),
    "protocol.num_samples": count(1, nullable=True, note="null: each measure's protocol size"),
    "protocol.splits": count(1),
    "protocol.split": Rule("choice", choices=("train", "val")),
    "batch_size": count(1),
    "splits": count(1),
    "kid_subsets": count(1),
    "kid_subset_size": count(1),
    "w1_points": count(2, nullable=True),
    "split": Rule("choice", choices=("train", "val")),
    "ema": EMA_CHOICE,
}

# src/sample.py
SAMPLE_RULES: dict[str, Rule] = {
    "seed": SEED,
    "num_samples": count(1),
    "ema": EMA_CHOICE,
    "per_class": count(1, nullable=True, note="samples per class: one grid row per class"),
    "labels": Rule("numbers", lo=0, nullable=True, note="one integer class label per sample"),
    "codes": count(0, nullable=True, note="InfoGAN: the continuous code varied along each row"),
    "columns": count(1),
    "span": POSITIVE,
}

ANY = Rule("any")  # a field with no rule of its own: a number in it need only be finite
_NOT_CHECKED = ("hydra", "paths")  # Hydra's own settings; paths are checked where they are opened


_MISSING = object()  # the value of a mandatory field nobody set (??? in its YAML file)


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any, bool]]:
    """(dotted key, resolved value, whether the value is an interpolation) of every leaf; lists are leaves;
    a missing (???) value is _MISSING; interpolations that do not resolve are skipped (they fail with their own
    message where used)."""
    if not isinstance(node, DictConfig):
        return
    for key in node.keys():
        path = f"{prefix}{key}"
        if not prefix and key in _NOT_CHECKED:
            continue
        if OmegaConf.is_missing(node, key):
            yield path, _MISSING, False
            continue
        try:
            value = node[key]
        except OmegaConfBaseException:
            continue
        if isinstance(value, DictConfig):
            yield from _leaves(value, path + ".")
        else:
            value = OmegaConf.to_object(value) if isinstance(value, ListConfig) else value
            yield path, value, OmegaConf.is_interpolation(node, key)


def _show(value: Any) -> str:
    return "null" if value is None else repr(value) if isinstance(value, str) else str(value)


def _matches(path: str, pattern: str) -> bool:
    """fnmatch, with `*` inside one dotted segment (callbacks.*.num_* is not callbacks.a.b.num_workers)."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", "[^.]*"), path) is not None


def value_problems(cfg: DictConfig, rules: dict[str, Rule]) -> list[str]:
    """Every value of `cfg` its rule refuses, every non-finite number and every mandatory value left unset, as
    sentences. A value copied by interpolation from a refused one (objective.lr_decay_iters: ${generator_iters})
    is not reported a second time: the user set only the source."""
    problems: list[tuple[str, Any, bool]] = []
    for path, value, interpolated in _leaves(cfg):
        if value is _MISSING:
            problems.append(
                (
                    f"{path} is not set: it has no default and must be given on the command line ({path}=...).",
                    None,
                    False,
                )
            )
            continue
        rule = next((r for pattern, r in rules.items() if _matches(path, pattern)), None)
        if rule is not None and rule is not ANY:
            if not rule.accepts(value):
                problems.append(
                    (f"{path}={_show(value)} is invalid: it must be {rule.describe()}.", value, interpolated)
                )
            continue
        numbers = value if isinstance(value, list) else [value]
        if any(is_number(v) and not math.isfinite(v) for v in numbers):
            problems.append((f"{path}={_show(value)} is invalid: it must be finite.", value, interpolated))
    sources = [value for _, value, interpolated in problems if not interpolated]
    return [text for text, value, interpolated in problems if not (interpolated and value in sources)]


# What the trainer is checked against before Lightning sees it (Lightning's own errors exit 1 with a traceback).
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda")
MAX_TIME = re.compile(r"^\d+:\d{1,2}:\d{1,2}:\d{1,2}$")  # DD:HH:MM:SS


def trainer_problems(cfg: DictConfig) -> list[str]:
    """The trainer settings this project supports end to end, as sentences naming what to use instead."""
    trainer = cfg.get("trainer")
    if not isinstance(trainer, DictConfig):
        return []
    problems = []
    precision = trainer.get("precision", "auto")
    accelerator = trainer.get("accelerator", "auto")
    if str(precision) not in PRECISIONS:
        problems.append(
            f"trainer.precision={_show(precision)} is not supported: it must be one of {', '.join(PRECISIONS)} (the "
            "evaluations and the penalty's fp32 norm are written for these; 64-true, 16-true and bf16-true would "
            "fail or lose precision at the end of training)."
        )
    if accelerator not in ACCELERATORS:
        problems.append(
            f"trainer.accelerator={_show(accelerator)} is invalid: it must be one of {', '.join(ACCELERATORS)}."
        )
    cuda = torch.cuda.is_available()
    if accelerator in ("gpu", "cuda") and not cuda:
        problems.append(
            f"trainer.accelerator={accelerator} asks for a GPU, but torch sees none on this machine (a CPU-only torch "
            "build or no CUDA device): use trainer.accelerator=auto or cpu."
        )
    on_gpu = cuda and accelerator != "cpu"
    if str(precision) == "16-mixed" and not on_gpu:
        problems.append(
            "trainer.precision=16-mixed needs a CUDA GPU (fp16 autocast with a loss scaler); on the CPU Lightning "
            "would silently run bf16-mixed instead: use trainer.precision=bf16-mixed (or auto) on the CPU."
        )
    devices = trainer.get("devices", 1)
    devices = OmegaConf.to_object(devices) if isinstance(devices, ListConfig) else devices
    if not (
        devices == "auto"
        or (is_number(devices) and float(devices).is_integer() and devices >= 1)
        or (isinstance(devices, list) and devices and all(isinstance(d, int) and d >= 0 for d in devices))
    ):
        problems.append(
            f"trainer.devices={_show(devices)} is invalid: it must be an integer >= 1, auto, or a list of device "
            "indices such as [0,1]."
        )
    max_time = trainer.get("max_time")
    if max_time is not None and not (isinstance(max_time, str) and MAX_TIME.match(max_time)):
        problems.append(
            f"trainer.max_time={_show(max_time)} is invalid: it must be DD:HH:MM:SS (e.g. 00:12:00:00 for twelve "
            "hours) or null."
        )
    return problems


def added_key_problems(overrides: list[str], conf_dirs: list[Path]) -> list[str]:
    """`+key=value` that adds a top-level key nothing reads: Hydra accepts it, the run ignores it. Typically a
    misspelt field, after Hydra suggested the + form (`+generator_iter=3`). `++key=value` (Hydra's force-override,
    valid on an existing key) and config groups of any folder on the search path (`conf_dirs`) are left alone."""
    problems = []
    for override in overrides:
        if not override.startswith("+") or override.startswith("++") or "=" not in override:
            continue
        key = override[1:].split("=", 1)[0]
        if "@" in key or "." in key or any((folder / key).is_dir() for folder in conf_dirs):  # a group, a field
            continue
        problems.append(
            f"{override} adds a top-level key `{key}` that nothing in the run reads, so it would be ignored (a "
            "misspelt field?). See the fields with `python src/train.py --cfg job`, and set an existing one "
            "without the +."
        )
    return problems


def config_problems(cfg: DictConfig, overrides: list[str] | None = None) -> list[str]:
    """Every invalid value in a composed training config, as sentences; empty when it is usable. `overrides`: the
    command line's (Hydra's task overrides), None to read them from Hydra when it is set up."""
    from wgangp.config_tree import CONF_DIR

    folders = [CONF_DIR]
    if HydraConfig.initialized():  # a user's --config-dir holds groups of its own
        hydra = HydraConfig.get()
        folders += [Path(s.path) for s in hydra.runtime.config_sources if s.schema == "file"]
        overrides = list(hydra.overrides.task) if overrides is None else overrides
    rules, objective = dict(TRAIN_RULES), []
    if isinstance(cfg.get("objective"), DictConfig):
        cls, objective = objective_class(cfg.objective)
        if cls is not None:
            objective = unknown_field_problems(cfg.objective, cls)
            # the objective's fields first: "the first matching pattern decides"
            rules = {f"objective.{k}": rule or ANY for k, rule in objective_fields(cls).items()} | rules
    return objective + value_problems(cfg, rules) + trainer_problems(cfg) + added_key_problems(overrides or [], folders)


def _refuse(problems: list[str], where: str) -> None:
    """One UserInputError listing every problem, when there are any."""
    if problems:
        raise UserInputError(" ".join(problems) + f" Fix the value(s) on the command line{where}.")


def check_values(cfg: DictConfig, rules: dict[str, Rule], where: str) -> None:
    """Raise UserInputError listing every value of `cfg` that `rules` refuse."""
    _refuse(value_problems(cfg, rules), where)


def check_config(cfg: DictConfig) -> None:
    """Raise UserInputError listing every problem of a composed training config."""
    _refuse(config_problems(cfg), " or in the config file")


def check_checkpoint_path(cfg: DictConfig) -> Path:
    """`cfg.ckpt_path` as a Path to an existing file, else a UserInputError saying what is there instead."""
    ckpt_path = None if OmegaConf.is_missing(cfg, "ckpt_path") else cfg.ckpt_path
    if ckpt_path is None or not isinstance(ckpt_path, (str, Path)) or not str(ckpt_path).strip():
        raise UserInputError(
            f"ckpt_path={_show(ckpt_path)} is not a checkpoint path: give ckpt_path=RUN/checkpoints/"
            "last.ckpt (runs write theirs to <run dir>/checkpoints/)."
        )
    path = Path(ckpt_path)
    if path.is_dir():
        found = sorted(path.glob("*.ckpt")) or sorted(path.glob("checkpoints/*.ckpt"))
        hint = f" (it holds {', '.join(p.name for p in found[:3])})" if found else ""
        raise UserInputError(
            f"ckpt_path={path} is a folder, not a checkpoint file{hint}: give the .ckpt file itself, "
            "e.g. ckpt_path=RUN/checkpoints/last.ckpt."
        )
    if not path.exists():
        raise UserInputError(
            f"ckpt_path={path} does not exist: runs write their checkpoints to "
            "<run dir>/checkpoints/last.ckpt; check the path."
        )
    return path
