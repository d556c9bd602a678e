"""Scoring a finished run from its checkpoint alone: `python src/eval.py ckpt_path=... num_samples=50000`.

The run's data module, nets and objective are rebuilt from the run configuration stored in the
checkpoint (GANObjective.on_save_checkpoint), so the real data is the data the run was trained on,
and the run's own evaluators (its data config's `evaluators:`) score the checkpoint's weights, with
conf/eval.yaml's settings laid over theirs.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from wgangp.build import build
from wgangp.checkpoints import check_buildable, check_weights, load_checkpoint
from wgangp.cli import entry_point
from wgangp.config_checks import EVAL_RULES, check_checkpoint_path, check_values
from wgangp.config_tree import CONF_DIR, trust_config_dir
from wgangp.errors import OutputWriteError, UserInputError, writing
from wgangp.evaluation.base import Evaluator, eval_mode
from wgangp.evaluation.context import objective_context
from wgangp.files import atomic_write_text
from wgangp.sampling import use_ema

log = logging.getLogger("wgangp")
# What num_samples=null means (conf/eval.yaml): the usual 50K generated images for IS/FID/KID, 10K for the k-NN
# measures (precision/recall, density/coverage: Naeem et al.'s 10K against the real set), and 2000 points per set
# for the exact W1 of 2-d data (an O(n^3) linear program).
IMAGE_SAMPLES, FEATURE_SET_SAMPLES, W1_POINTS = 50_000, 10_000, 2000
FEATURE_SET_EVALUATORS = ("precision_recall", "density_coverage")


def evaluator_configs(run_evaluators: dict, settings: dict) -> DictConfig:
    """The run's evaluator configs with `settings` (conf/eval.yaml's `evaluators:`) replacing their keys;
    settings for an evaluator the run did not have are ignored."""
    configs = OmegaConf.create({n: c for n, c in run_evaluators.items() if isinstance(c, dict) and "_target_" in c})
    for name, overrides in settings.items():
        if name in configs:
            for key, value in overrides.items():
                configs[name][key] = value  # replaced, not merged: e.g. another extractor's own keys
    return configs


def evaluate(cfg: DictConfig) -> dict:
    """Score the checkpoint `cfg.ckpt_path`; writes and returns the JSON result (see conf/eval.yaml)."""
    t0 = time.perf_counter()
    ckpt_path = Path(cfg.ckpt_path)
    ckpt = load_checkpoint(ckpt_path)
    info = ckpt["wgangp"]
    run_config = info["run_config"]
    check_buildable(run_config, ckpt_path)  # the data module, nets, objective and evaluators are built from it
    datamodule, objective = build(OmegaConf.create(run_config))  # the data module comes set up
    check_weights(ckpt["state_dict"], objective.state_dict(), ckpt_path, "the run's")
    objective.load_state_dict(ckpt["state_dict"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    objective.to(device)
    with open_dict(cfg):
        cfg.data = run_config["data"]  # so `${data}` (metrics=classifier's extractor) means the run's data
    settings = OmegaConf.to_container(cfg.evaluators, resolve=True)  # resolved here, where `data` is the run's
    # num_samples=null: each measure's own protocol size; a number given is used by every measure
    if settings["quality"].get("num_samples") is None:  # evaluators.quality.num_samples=N given: it stands
        settings["quality"]["num_samples"] = IMAGE_SAMPLES
    for name in FEATURE_SET_EVALUATORS:
        if name in settings and settings[name].get("num_samples") is None:
            settings[name]["num_samples"] = FEATURE_SET_SAMPLES
    if settings["w1"].get("num_points") is None:
        settings["w1"]["num_points"] = cfg.num_samples or W1_POINTS
    configs = evaluator_configs(run_config.get("evaluators") or {}, settings)
    if not configs:
        raise UserInputError(
            f"{ckpt_path}'s run config selects no evaluators, so there is nothing to score: it was written by a "
            "wgangp before the evaluators (checkpoint format 1) or trained on a data config that lists none. "
            "Sample it with src/sample.py and score the samples, or evaluate a checkpoint of a current run."
        )
    ema = use_ema(ckpt, cfg.get("ema"), ckpt_path)  # the generator's weight average, or the raw generator
    generator = objective.ema_generator.module if ema else objective.generator
    out = Path(cfg.out) if cfg.out else ckpt_path.with_suffix(".eval.json")
    # what the callback gives the evaluators in training, but the latents of seed= (the z of
    # wgangp.sample(ckpt, n, seed)): the same builder, so both paths score the same samples
    context = objective_context(objective, out_dir=out.parent, device=device, seed=cfg.seed)
    result: dict = {
        "ckpt_path": str(ckpt_path.resolve()),
        "generator_iter": info["generator_iter"],
        "seed": cfg.seed,
        "ema": ema,
    }
    for name, config in configs.items():
        evaluator: Evaluator = instantiate(config)
        evaluator.setup(datamodule, context)
        with torch.no_grad(), eval_mode(generator, objective.critic):
            metrics = evaluator.evaluate(generator, objective.critic)
        result.update(evaluator.describe())
        result.update({k.removeprefix("val/"): v for k, v in metrics.items()})
        log.info("%s: %s", name, metrics)
    result["seconds"] = time.perf_counter() - t0
    text = json.dumps(result, indent=2)
    try:
        with writing(out, "evaluation result"):
            atomic_write_text(out, text)
    except OutputWriteError:
        print(text)  # the scores took minutes to compute: keep them on stdout before the error exits (4)
        raise
    log.info("wrote %s: %s", out, {k: v for k, v in result.items() if isinstance(v, float)})
    return result


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")
@entry_point
def main(cfg: DictConfig) -> None:
    check_values(cfg, EVAL_RULES, " (see conf/eval.yaml)")
    check_checkpoint_path(cfg)
    # a config directory the user added (--config-dir, hydra.searchpath) names their own classes: trusted
    trust_config_dir(*(s.path for s in HydraConfig.get().runtime.config_sources if s.schema == "file"))
    evaluate(cfg)
