"""The training entry point: compose the config, instantiate data, nets and objective, fit.

    python src/train.py objective=wgan_gp model=toy_mlp data=8gaussians generator_iters=2000
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf, open_dict

from wgangp.callbacks.checkpoint import IterationCheckpoint
from wgangp.config_checks import check_config, check_resume_compatible
from wgangp.errors import CheckpointWriteError, NonFiniteError, TrainingInterrupted, UserInputError
from wgangp.nets.layers import penalty_kwargs
from wgangp.nets.random_arch import app_b_weight_decay, sample_architecture
from wgangp.precision import configure_numerics
from wgangp.sampling import load_checkpoint
from wgangp.sweep.results import is_finished, make_result, read_result, write_result

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = REPO_ROOT / "conf"
os.environ.setdefault("WGANGP_ROOT", str(REPO_ROOT))

log = logging.getLogger("wgangp")

# App. B's weight decay, which depends on the sampled architecture (sweeps/random_archs.yaml).
if not OmegaConf.has_resolver("wgangp.app_b_weight_decay"):
    OmegaConf.register_new_resolver("wgangp.app_b_weight_decay", app_b_weight_decay)


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`ckpt_path=last`: this run directory's last.ckpt if it has one, else the newest last.ckpt of
    earlier runs with the same run name (sibling directories). Any other value is a path."""
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
    candidates = sorted(output_dir.parent.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UserInputError(
            f"ckpt_path=last found no last.ckpt in {output_dir}/checkpoints or in earlier runs under "
            f"{output_dir.parent}; pass the checkpoint's path instead: ckpt_path=/path/to/last.ckpt"
        )
    return str(candidates[-1])


def compose_config(output_dir: Path, overrides: Sequence[str] = ()) -> DictConfig:
    """The config `python src/train.py <overrides>` would run, with its run directory at output_dir
    (Hydra's compose API; for tests, benchmarks and notebooks)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"paths.output_dir={output_dir}"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule]:
    """Instantiate the data module, both nets and the objective from a composed config."""
    datamodule = instantiate(cfg.data, seed=cfg.seed, batches_per_step=cfg.objective.n_critic)
    generator = instantiate(cfg.model.generator, data_shape=datamodule.data_shape)
    # Sec. 4: critics with a `norm` swap batch for layer norm when the objective has a gradient penalty.
    penalty = penalty_kwargs(cfg.model.critic._target_, cfg.objective._target_)
    critic = instantiate(cfg.model.critic, data_shape=datamodule.data_shape, **penalty)
    objective = instantiate(cfg.objective, generator=generator, critic=critic, seed=cfg.seed)
    objective.run_config = OmegaConf.to_container(cfg, resolve=True)
    vocabulary = getattr(datamodule, "vocabulary", None)
    if vocabulary is not None:  # text: characters by id, so a checkpoint alone decodes its samples (sample.py)
        objective.run_config["vocabulary"] = list(vocabulary)
    arch = {**getattr(generator, "arch", {}), **getattr(critic, "arch", {})}  # Table 1's sampled choices
    if arch:
        # Lightning logs a module's hyperparameters to every logger at fit start; keep any it has
        objective.save_hyperparameters({**objective.hparams, "arch": arch})
    return datamodule, objective


def _unwrap_instantiation(e: InstantiationException) -> BaseException:
    """Hydra wraps a constructor's exception; our own validation errors are reported as themselves."""
    cause = e.__cause__
    return cause if isinstance(cause, (UserInputError, ValueError)) else e


def train(cfg: DictConfig, record: dict[str, Any] | None = None) -> dict[str, float]:
    """Fit one run; returns the final callback metrics as floats.

    Raises UserInputError before anything is trained when the config or ckpt_path is unusable,
    NonFiniteError when a loss term becomes non-finite, TrainingInterrupted after SIGINT/SIGTERM
    (a checkpoint was saved first). `record`, when given, receives "generator_iter": the generator
    iterations completed when fit returned or raised (a sweep's result file reports it).
    """
    output_dir = Path(cfg.paths.output_dir)
    check_config(cfg)
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, output_dir)
    if ckpt_path:
        check_resume_compatible(load_checkpoint(ckpt_path)["wgangp"].get("run_config"), cfg, ckpt_path)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    try:
        datamodule, objective = build(cfg)
    except InstantiationException as e:
        cause = _unwrap_instantiation(e)
        if cause is e:
            raise
        raise UserInputError(str(cause)) from e
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    loggers = [instantiate(c) for c in cfg.logger.values() if c is not None]
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        precision=configure_numerics(cfg.trainer.precision, cfg.trainer.accelerator),  # `auto`: see README
        max_steps=cfg.generator_iters * objective.optimizer_steps_per_iter,  # global_step counts both players
        callbacks=callbacks,
        logger=loggers,
    )
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    checkpointing = next((c for c in callbacks if isinstance(c, IterationCheckpoint)), None)
    try:
        trainer.fit(objective, datamodule=datamodule, ckpt_path=ckpt_path)
    except SIGTERMException:
        if checkpointing is None or checkpointing.interrupted is None:
            raise
    finally:
        if record is not None:
            record["generator_iter"] = objective.generator_iter
    if checkpointing is not None and checkpointing.interrupted is not None:
        raise TrainingInterrupted(checkpointing.interrupted, objective.generator_iter, str(checkpointing.last_path))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    log.info("finished at generator iteration %d; run directory %s", objective.generator_iter, output_dir)
    return metrics


# Exit codes of the command line: 2 bad input, 3 non-finite training, 4 checkpoint write failed,
# 128 + signal number after SIGINT/SIGTERM (the checkpoint was saved).
EXIT_CODES = {UserInputError: 2, NonFiniteError: 3, CheckpointWriteError: 4}


def _report_and_exit(e: BaseException, code: int) -> None:
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise e
    log.error("%s", e)
    print(f"error: {e}", file=sys.stderr)
    sys.exit(code)


def _finish_wandb(result: dict[str, Any]) -> None:
    """Close this run's W&B run (if logger=wandb started one) with its outcome as summary values, so the
    next run of the sweep, in the same process under the basic launcher, starts its own W&B run."""
    wandb = sys.modules.get("wandb")
    if wandb is None or wandb.run is None:
        return
    wandb.run.summary.update({k: result[k] for k in ("status", "reason", "score", "score_std", "generator_iters")})
    wandb.finish(exit_code=0 if result["status"] == "ok" else 1)


def run_sweep_job(cfg: DictConfig) -> float | None:
    """One job of a multirun (Sec. 5.1's benchmark): skip it if its result.json says it finished, else
    train it, resuming from its own checkpoints/last.ckpt, and record the outcome in result.json.

    A crash or divergence is recorded as status "failed" with its reason and the sweep goes on
    (wgangp.sweep.results says which failures a re-run retries). Only an interruption (SIGINT/SIGTERM,
    TrainingInterrupted) propagates: it stops the sweep, and the same command resumes it. Returns the
    run's score (`sweep.score`), for sweepers that optimise it.
    """
    run_dir = Path(cfg.paths.output_dir)
    previous = read_result(run_dir)
    if is_finished(previous, cfg.generator_iters):
        log.info("skipping %s: finished earlier (%s, score %s)", run_dir, previous["status"], previous["score"])
        return previous["score"]
    own_last = run_dir / "checkpoints" / "last.ckpt"
    with open_dict(cfg):
        # A sweep resumes a run from its own directory only: `last` must not fall back to a sibling run
        # (another architecture) as it does for single runs.
        if cfg.ckpt_path in (None, "", "last"):
            cfg.ckpt_path = str(own_last) if own_last.is_file() else None
    arch_seed = cfg.get("arch_seed")
    record: dict[str, Any] = {}
    score_name = cfg.sweep.score
    t0 = time.perf_counter()
    metrics: dict[str, float] = {}
    try:
        metrics = train(cfg, record=record)
    except TrainingInterrupted:
        raise
    except Exception as e:  # any failure of one run is recorded; the sweep goes on
        log.exception("run failed: %s", run_dir)
        print(f"error in {run_dir}: {e}", file=sys.stderr)
        # Divergence is the benchmark's outcome (Table 2 counts it as not succeeded); anything else is retried.
        status, reason, retry = "failed", f"{type(e).__name__}: {e}", not isinstance(e, NonFiniteError)
    else:
        score = metrics.get(score_name)
        if score is None:
            status, retry = "failed", True
            reason = (f"the run finished but logged no {score_name} (is the quality metric's feature extractor "
                      "available? see the warnings in the run's log)")
        elif not math.isfinite(score):
            status, reason, retry = "failed", f"non-finite {score_name}: {score}", False
        else:
            status, reason, retry = "ok", None, False
    try:
        arch = sample_architecture(arch_seed) if arch_seed is not None else None
    except ValueError:
        arch = None
    result = make_result(
        status=status, reason=reason, retry=retry, score_name=score_name, metrics=metrics,
        objective=HydraConfig.get().runtime.choices.get("objective"), arch_seed=arch_seed, arch=arch,
        generator_iters=record.get("generator_iter"), target_generator_iters=cfg.generator_iters,
        seconds=time.perf_counter() - t0, attempt=(previous or {}).get("attempt", 0) + 1,
        sweep=cfg.sweep.name, run_dir=str(run_dir),
    )
    write_result(run_dir, result)
    _finish_wandb(result)
    log.info("%s: %s, %s = %s", run_dir, status, score_name, result["score"])
    return result["score"]


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    if cfg.get("task") is not None:  # e.g. experiment=toy_value_surfaces (Fig. 1): not a training run
        instantiate(cfg.task)(cfg)
        return None
    try:
        if HydraConfig.get().mode.name == "MULTIRUN":
            return run_sweep_job(cfg)  # records a failed run and goes on; only an interruption comes through
        train(cfg)
    except TrainingInterrupted as e:
        log.warning("%s", e)
        print(str(e), file=sys.stderr)
        sys.exit(128 + (15 if e.signal_name == "SIGTERM" else 2))
    except tuple(EXIT_CODES) as e:
        _report_and_exit(e, next(code for cls, code in EXIT_CODES.items() if isinstance(e, cls)))
    return None


if __name__ == "__main__":
    main()
