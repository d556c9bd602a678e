"""Scoring a finished run from its checkpoint alone: `python src/eval.py ckpt_path=... num_samples=50000`.

The data module is rebuilt from the run configuration stored in the checkpoint (see
GANObjective.on_save_checkpoint), so the real data is the data the run was trained on.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from wgangp.build import CONF_DIR, REPO_ROOT
from wgangp.cli import entry_point
from wgangp.config_checks import EVAL_RULES, check_checkpoint_path, check_values
from wgangp.metrics.features import extract, generated_images, real_images, reference_stats, reference_stats_path
from wgangp.metrics.quality import score_features
from wgangp.metrics.w1 import wasserstein1
from wgangp.sampling import load_checkpoint, load_generator, sample

os.environ.setdefault("WGANGP_ROOT", str(REPO_ROOT))
log = logging.getLogger("wgangp")


def rebuild_datamodule(run_config: dict):
    """The run's data module, as wgangp.train.build made it, ready for `eval_samples`."""
    datamodule = instantiate(
        run_config["data"], seed=run_config["seed"], batches_per_step=run_config["objective"]["n_critic"]
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def evaluate(cfg: DictConfig) -> dict:
    """Score the checkpoint `cfg.ckpt_path`; writes and returns the JSON result (see conf/eval.yaml)."""
    t0 = time.perf_counter()
    ckpt_path = Path(cfg.ckpt_path)
    info = load_checkpoint(ckpt_path)["wgangp"]
    run_config = info["run_config"]
    datamodule = rebuild_datamodule(run_config)
    result: dict = {"ckpt_path": str(ckpt_path.resolve()), "generator_iter": info["generator_iter"],
                    "seed": cfg.seed}
    if len(datamodule.data_shape) == 3:  # images (C, H, W): Sec. 5.3-5.4 metrics
        device = "cuda" if torch.cuda.is_available() else "cpu"
        make_extractor = instantiate(cfg.metrics.extractor)
        # metrics=classifier is trained on the run's own data: hand it the data config the run used
        needs_data = "data" in cfg.metrics.extractor and cfg.metrics.extractor.data is None
        extractor = (make_extractor(data=run_config["data"]) if needs_data else make_extractor()).to(device).eval()
        stats_path = reference_stats_path(cfg.metrics.stats_dir, run_config["data"], datamodule, cfg.split,
                                          extractor.name, cfg.num_real)
        reference = reference_stats(
            stats_path, extractor, lambda: real_images(datamodule, cfg.num_real, cfg.split, cfg.batch_size),
            cfg.kid_subset_size, device,
        )
        generator = load_generator(ckpt_path).to(device)
        batches = generated_images(generator, cfg.num_samples, cfg.seed, cfg.batch_size, device)
        features = extract(extractor, batches, device)  # under no_grad
        result.update(num_samples=cfg.num_samples, num_real=cfg.num_real, split=cfg.split,
                      extractor=extractor.name, stats_path=str(stats_path))
        result.update(score_features(features, reference, cfg.splits, cfg.kid_subsets, cfg.kid_subset_size))
    else:  # the 2-d toy problems: the exact earth mover's distance
        n = min(cfg.num_samples, cfg.w1_points)
        result.update(num_samples=n, w1=wasserstein1(sample(ckpt_path, n, seed=cfg.seed),
                                                     datamodule.eval_samples(n, index=0)))
    result["seconds"] = time.perf_counter() - t0
    out = Path(cfg.out) if cfg.out else ckpt_path.with_suffix(".eval.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    log.info("wrote %s: %s", out, {k: v for k, v in result.items() if isinstance(v, float)})
    return result


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")
@entry_point
def main(cfg: DictConfig) -> None:
    check_values(cfg, EVAL_RULES, " (see conf/eval.yaml)")
    check_checkpoint_path(cfg)
    evaluate(cfg)
