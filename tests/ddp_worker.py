"""One rank of the 2-process DDP test (tests/test_ddp.py starts two of these with LOCAL_RANK set).

    python tests/ddp_worker.py OUT_DIR [overrides...]

Trains with trainer=ddp on the CPU (gloo) and writes this rank's generator and critic weights to
OUT_DIR/rank{LOCAL_RANK}.pt.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import TINY, compose_config  # noqa: E402
from wgangp.build import build  # noqa: E402
from wgangp.precision import configure_numerics  # noqa: E402


def _weights(objective) -> dict[str, dict[str, torch.Tensor]]:
    return {
        name: {k: v.detach().clone() for k, v in getattr(objective, name).state_dict().items()}
        for name in ("generator", "critic")
    }


def fit_and_weights(cfg: DictConfig) -> dict[str, dict[str, torch.Tensor]]:
    """Train `cfg` for cfg.generator_iters without callbacks or loggers; both players' weights after
    it ("generator", "critic") and before it ("initial": {"generator": ..., "critic": ...})."""
    L.seed_everything(cfg.seed, verbose=False)
    datamodule, objective = build(cfg)
    initial = _weights(objective)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        precision=configure_numerics(cfg.trainer.precision, cfg.trainer.accelerator),
        max_steps=cfg.generator_iters,
        callbacks=[],
        logger=False,
        enable_progress_bar=False,
    )
    trainer.fit(objective, datamodule=datamodule)
    return {**_weights(objective), "initial": initial}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    cfg = compose_config(out / "run", [*TINY, "trainer=ddp", "trainer.accelerator=cpu", *sys.argv[2:]])
    torch.save(fit_and_weights(cfg), out / f"rank{os.environ['LOCAL_RANK']}.pt")
