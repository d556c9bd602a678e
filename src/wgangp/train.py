"""The training entry point: compose the config, instantiate data, nets and objective, fit.

    python src/train.py objective=wgan_gp model=toy_mlp data=8gaussians generator_iters=2000
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

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
            raise FileNotFoundError(f"ckpt_path={ckpt_path} does not exist")
        return str(ckpt_path)
    own = output_dir / "checkpoints" / "last.ckpt"
    if own.is_file():
        return str(own)
    candidates = sorted(output_dir.parent.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise FileNotFoundError(
            f"ckpt_path=last found no last.ckpt in {output_dir}/checkpoints or in earlier runs under "
            f"{output_dir.parent}; pass the checkpoint's path instead: ckpt_path=/path/to/last.ckpt"
        )
    return str(candidates[-1])


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule]:
    """Instantiate the data module, both nets and the objective from a composed config."""
    datamodule = instantiate(cfg.data, seed=cfg.seed, batches_per_step=cfg.objective.n_critic)
    generator = instantiate(cfg.model.generator, data_shape=datamodule.data_shape)
    critic = instantiate(cfg.model.critic, data_shape=datamodule.data_shape)
    objective = instantiate(cfg.objective, generator=generator, critic=critic, seed=cfg.seed)
    objective.run_config = OmegaConf.to_container(cfg, resolve=True)
    return datamodule, objective


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit one run; returns the final callback metrics as floats."""
    output_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, objective = build(cfg)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    loggers = [instantiate(c) for c in cfg.logger.values() if c is not None]
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        max_steps=cfg.generator_iters * objective.optimizer_steps_per_iter,  # global_step counts both players
        callbacks=callbacks,
        logger=loggers,
    )
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, output_dir)
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    trainer.fit(objective, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    log.info("finished at generator iteration %d; run directory %s", objective.generator_iter, output_dir)
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    if cfg.get("task") is not None:  # e.g. experiment=toy_value_surfaces (Fig. 1): not a training run
        instantiate(cfg.task)(cfg)
        return None
    metrics = train(cfg)
    if HydraConfig.get().mode.name == "MULTIRUN":
        return metrics.get("val/w1")
    return None


if __name__ == "__main__":
    main()
