"""The training entry point: `python src/train.py objective=wgan_gp model=toy_mlp data=8gaussians`.

`train(cfg)` fits one run of a composed config (wgangp.build); `main` is the command line around it:
a single run, one job of a multirun (wgangp.sweep.job), or a figure task (`task:`), all behind the
error boundary of wgangp.cli.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from wgangp.build import build
from wgangp.callbacks.checkpoint import IterationCheckpoint
from wgangp.checkpoints import check_weights
from wgangp.cli import entry_point
from wgangp.config_checks import check_config
from wgangp.config_tree import CONF_DIR
from wgangp.errors import NonFiniteError, TrainingInterrupted, UserInputError
from wgangp.loggers import continue_loggers
from wgangp.memory import check_memory
from wgangp.precision import configure_numerics
from wgangp.resume import prepare_start
from wgangp.run_lock import run_directory_lock
from wgangp.sweep.job import run_sweep_job

log = logging.getLogger("wgangp")


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
    with run_directory_lock(Path(cfg.paths.output_dir)):  # one run per directory (wgangp.run_lock)
        return _train_locked(cfg, record)


def _train_locked(cfg: DictConfig, record: dict[str, Any] | None) -> dict[str, float]:
    output_dir = Path(cfg.paths.output_dir)
    check_config(cfg)
    ckpt_path, ckpt = prepare_start(cfg, output_dir)  # never over an earlier run's files; a resume checked
    start = ckpt["wgangp"]["generator_iter"] if ckpt is not None else 0
    if ckpt is not None and start == cfg.generator_iters:  # a finished run: not an error, but say so
        log.warning(
            "nothing to train: %s already holds generator iteration %d of generator_iters=%d, so nothing was trained "
            "or written. Raise generator_iters to train further, or sample or evaluate the checkpoint as it is.",
            ckpt_path,
            start,
            cfg.generator_iters,
        )
        return {}
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    try:
        datamodule, objective = build(cfg)
    except InstantiationException as e:
        cause = _unwrap_instantiation(e)
        if cause is e:
            raise
        raise UserInputError(str(cause)) from e
    if ckpt is not None:  # a wrong-shaped or non-finite tensor is refused here, not inside Lightning's restore
        check_weights(ckpt["state_dict"], objective.state_dict(), ckpt_path, "the run's")
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    callbacks.sort(key=lambda c: isinstance(c, IterationCheckpoint))  # last: an iteration's metrics precede its ckpt
    loggers = [instantiate(c) for c in cfg.logger.values() if c is not None]
    if ckpt is not None:
        continue_loggers(loggers, ckpt)  # metrics.csv, TensorBoard, W&B continue the checkpoint's history
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        precision=configure_numerics(cfg.trainer.precision, cfg.trainer.accelerator),  # auto: docs/performance.md
        max_steps=cfg.generator_iters,  # global_step counts generator iterations (objectives/base.py)
        callbacks=callbacks,
        logger=loggers,
    )
    check_memory(
        objective, datamodule.batch_size, trainer.strategy.root_device, datamodule.num_workers, str(trainer.precision)
    )  # a batch that cannot fit is refused now, not after minutes of swapping
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    checkpointing = next((c for c in callbacks if isinstance(c, IterationCheckpoint)), None)
    try:
        trainer.fit(objective, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        if checkpointing is None or checkpointing.interrupted is None:
            raise
    except NonFiniteError as e:  # say what the run directory keeps
        last = checkpointing.last_path if checkpointing is not None else None
        kept = (
            f"{last} holds the last good state; resume from it with ckpt_path=last once fixed."
            if last is not None and last.is_file()
            else "No checkpoint holds a good state: none had been written yet, so rerun from the start."
        )
        raise NonFiniteError(f"{e} {kept}") from e
    finally:
        if record is not None:
            record["generator_iter"] = objective.generator_iter
    if checkpointing is not None and checkpointing.interrupted is not None:
        raise TrainingInterrupted(checkpointing.interrupted, objective.generator_iter, str(checkpointing.last_path))
    if objective.generator_iter == start:  # e.g. trainer.max_time=00:00:00:00
        log.warning(
            "nothing was trained: the run stopped before its first generator iteration (trainer.max_time=%s)",
            cfg.trainer.get("max_time"),
        )
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    log.info("finished at generator iteration %d; run directory %s", objective.generator_iter, output_dir)
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
@entry_point  # one paragraph and a documented exit code; a bug keeps its traceback
def main(cfg: DictConfig) -> float | None:
    if cfg.get("task") is not None:  # e.g. experiment=toy_value_surfaces (Fig. 1): not a training run
        instantiate(cfg.task)(cfg)
        return None
    if HydraConfig.get().mode.name == "MULTIRUN":
        return run_sweep_job(cfg, train)  # records a failed run and goes on; only an interruption comes through
    train(cfg)
    return None


if __name__ == "__main__":
    main()
