"""Resuming a run: which checkpoint `ckpt_path` names, and whether this config may continue it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from wgangp.augment import DEFAULT_POLICY
from wgangp.checkpoints import check_format, load_checkpoint
from wgangp.errors import UserInputError, writing
from wgangp.objectives.schema import may_change_on_resume

log = logging.getLogger("wgangp")
METRICS = "metrics.csv"

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
    # optimizer hyperparameters are re-applied to the restored optimizer state (GANObjective.on_train_start);
    # the optimizer's class (its state layout) is not: objective.optimizer._target_ stays compared
    *(
        f"objective.{optimizer}.{key}"
        for optimizer in ("optimizer", "generator_optimizer")
        for key in ("lr", "betas", "eps", "weight_decay", "momentum", "alpha")
    ),
)
# and the objective's fields whose schema metadata says so (wgangp.objectives.schema: the lr schedule, the critic's
# weight decay). The generator batch, the weight average and data.dequantize define the run: compared.
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
    if key.count(".") == 1 and key.startswith("objective.") and may_change_on_resume(key.split(".")[1]):
        return True
    return any(key == p or key.startswith(p + ".") for p in RESUMABLE)


_ABSENT = object()  # a key one side has and the other has not
# Fields added after checkpoint format 2, with the value that does what the code did before them: a checkpoint
# written before a field existed resumes under that value (any other value is a different setup).
ADDED_FIELDS = {
    "objective.feature_layer": None,
    "objective.penalty_every": 1,  # the loop fields of lazy regularisation and augmentation: off, as before them
    "objective.augment": "none",
    "objective.augment_policy": DEFAULT_POLICY,
    "objective.ada_target": 0.6,
    "objective.ada_kimg": 500.0,
    "data.subset": None,  # lsun, imagenet32 and image_folder gained the option: none, as before it
}


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
            "(lr, betas, eps, weight_decay, momentum, objective.critic_weight_decay, lr_decay and lr_decay_iters)."
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


def checkpoints_in(run_dir: Path) -> list[Path]:
    """The checkpoint files a run left in `run_dir`/checkpoints, newest name last."""
    return sorted((Path(run_dir) / "checkpoints").glob("*.ckpt"))


def own_resume_point(run_dir: Path) -> Path | None:
    """The checkpoint a run in `run_dir` continues from: its last.ckpt, else its newest kept iter_*.ckpt (a run
    that keeps no last.ckpt, callbacks.checkpoint.last_every_n_iters=0); None when it has none."""
    folder = Path(run_dir) / "checkpoints"
    try:
        if (folder / "last.ckpt").is_file():
            return folder / "last.ckpt"
        kept = sorted(p for p in folder.glob("iter_*.ckpt") if p.is_file())  # zero-padded: by name is by iteration
    except OSError:
        return None
    return kept[-1] if kept else None


def check_run_directory(run_dir: Path, ckpt_path: str | None) -> None:
    """Refuse a new run (no ckpt_path) in a directory that holds another run's checkpoints: it would overwrite
    them and mix its metrics.csv rows with theirs. A metrics.csv without any checkpoint (a run killed before its
    first one) is kept beside the new one as metrics.csv.previous-N, so nothing written is lost."""
    if ckpt_path not in (None, ""):
        return
    run_dir = Path(run_dir)
    found = checkpoints_in(run_dir)
    if found:
        raise UserInputError(
            f"run directory {run_dir} already holds a run's checkpoints ({', '.join(p.name for p in found[-2:])}), "
            "and a new run there would overwrite them and append to that run's metrics.csv, so this one did not "
            "start. To continue that run, repeat its command with ckpt_path=last added; to start a new run, leave "
            "hydra.run.dir out (a new timestamped folder) or give it another folder, hydra.run.dir=..."
        )
    metrics = run_dir / METRICS
    if metrics.is_file():
        n = 1
        while (kept := run_dir / f"{METRICS}.previous-{n}").exists():
            n += 1
        with writing(kept, "metrics log"):
            metrics.rename(kept)
        log.warning("%s held the rows of an earlier run that left no checkpoint; kept them as %s", metrics, kept)


def prepare_start(cfg: DictConfig, run_dir: Path) -> tuple[str | None, dict | None]:
    """How a run in `run_dir` starts: afresh, or from the checkpoint `cfg.ckpt_path` names, checked before anything
    is written (the run-directory callback calls it before Hydra writes .hydra/, train() again). Returns
    (ckpt_path, loaded checkpoint), (None, None) for a fresh start.

    Refused (UserInputError): a fresh start over a run's checkpoints; a resume into a directory holding another
    run's checkpoints; `last` with nothing to find; a checkpoint that is unreadable, of an older format or of a
    different setup (wgangp.checkpoints, check_resume_compatible)."""
    run_dir = Path(run_dir)
    check_run_directory(run_dir, cfg.ckpt_path)
    runs_of_this_name = Path(cfg.paths.log_dir) / cfg.task_name / cfg.run_name  # the default layout's parent
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, run_dir, runs_of_this_name)
    if ckpt_path is None:
        return None, None
    own = (run_dir / "checkpoints").resolve()
    if checkpoints_in(run_dir) and Path(ckpt_path).resolve().parent != own:
        raise UserInputError(
            f"run directory {run_dir} holds the checkpoints of its own run, and resuming ckpt_path={ckpt_path} "
            "(another run's) there would overwrite them and that run's metrics.csv, so this one did not start. "
            "Resume it in its own directory, or in a new one: leave hydra.run.dir out, or give another "
            "hydra.run.dir=..."
        )
    # weights_only and checked (a bad file is a UserInputError); a resume builds from this run's own config, never
    # from the stored one, which it only compares
    ckpt = load_checkpoint(ckpt_path)
    check_format(ckpt["wgangp"], ckpt_path)
    check_resume_compatible(ckpt["wgangp"]["run_config"], cfg, ckpt_path, ckpt["wgangp"]["generator_iter"])
    return ckpt_path, ckpt
