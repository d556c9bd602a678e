"""The training entry point: compose the config, instantiate data, nets and objective, fit.

    python src/train.py objective=wgan_gp model=toy_mlp data=8gaussians generator_iters=2000
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from wgangp.callbacks.checkpoint import IterationCheckpoint
from wgangp.config_checks import check_config, check_resume_compatible
from wgangp.errors import CheckpointWriteError, NonFiniteError, TrainingInterrupted, UserInputError
from wgangp.nets.layers import penalty_kwargs
from wgangp.precision import configure_numerics
from wgangp.sampling import load_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = REPO_ROOT / "conf"
os.environ.setdefault("WGANGP_ROOT", str(REPO_ROOT))

log = logging.getLogger("wgangp")


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


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule]:
    """Instantiate the data module, both nets and the objective from a composed config."""
    datamodule = instantiate(cfg.data, seed=cfg.seed, batches_per_step=cfg.objective.n_critic)
    generator = instantiate(cfg.model.generator, data_shape=datamodule.data_shape)
    # Sec. 4: critics with a `norm` swap batch for layer norm when the objective has a gradient penalty.
    penalty = penalty_kwargs(cfg.model.critic._target_, cfg.objective._target_)
    critic = instantiate(cfg.model.critic, data_shape=datamodule.data_shape, **penalty)
    objective = instantiate(cfg.objective, generator=generator, critic=critic, seed=cfg.seed)
    objective.run_config = OmegaConf.to_container(cfg, resolve=True)
    arch = {**getattr(generator, "arch", {}), **getattr(critic, "arch", {})}  # Table 1's sampled choices
    if arch:
        # Lightning logs a module's hyperparameters to every logger at fit start; keep any it has
        objective.save_hyperparameters({**objective.hparams, "arch": arch})
    return datamodule, objective


def _unwrap_instantiation(e: InstantiationException) -> BaseException:
    """Hydra wraps a constructor's exception; our own validation errors are reported as themselves."""
    cause = e.__cause__
    return cause if isinstance(cause, (UserInputError, ValueError)) else e


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit one run; returns the final callback metrics as floats.

    Raises UserInputError before anything is trained when the config or ckpt_path is unusable,
    NonFiniteError when a loss term becomes non-finite, TrainingInterrupted after SIGINT/SIGTERM
    (a checkpoint was saved first).
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


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    if cfg.get("task") is not None:  # e.g. experiment=toy_value_surfaces (Fig. 1): not a training run
        instantiate(cfg.task)(cfg)
        return None
    try:
        metrics = train(cfg)
    except TrainingInterrupted as e:
        log.warning("%s", e)
        print(str(e), file=sys.stderr)
        sys.exit(128 + (15 if e.signal_name == "SIGTERM" else 2))
    except tuple(EXIT_CODES) as e:
        if HydraConfig.get().mode.name == "MULTIRUN":
            raise  # the sweep records the failure and goes on
        _report_and_exit(e, next(code for cls, code in EXIT_CODES.items() if isinstance(e, cls)))
    if HydraConfig.get().mode.name == "MULTIRUN":
        return metrics.get("val/w1")
    return None


if __name__ == "__main__":
    main()
