"""Scoring a finished run from its checkpoint alone: `python src/eval.py ckpt_path=... [protocol=fid50k_train]`.

The run's data module, nets and objective are rebuilt from the run configuration stored in the
checkpoint (GANObjective.on_save_checkpoint), so the real data is the data the run was trained on,
and the run's own evaluators (its data config's `evaluators:`) score the checkpoint's weights, with
conf/eval.yaml's settings laid over theirs.

A protocol (conf/protocol/: fid50k_train, fid10k_test, is50k) fixes the numbers that make a score comparable with a
published one: generated images, the real split and how many of its images (all of them, each once, where the
protocol says so), IS splits. Without one, eval.yaml's own numbers are used and recorded as protocol "custom". The
JSON states the protocol of its scores (name, counts, real set, feature space = the `metrics` extractor, seed, and
which numbers a command line changed), and `results_table=NAME` also writes it as a results record
(wgangp.results) under results/NAME/.
"""

from __future__ import annotations

import functools
import glob
import json
import logging
import time
from pathlib import Path
from typing import Any

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
from wgangp.results import check_table_name, new_record, protocol_label, record_path, write_record
from wgangp.sampling import use_ema

log = logging.getLogger("wgangp")
# What num_samples=null means (conf/eval.yaml): the usual 50K generated images for IS/FID/KID, 10K for the k-NN
# measures (precision/recall, density/coverage: Naeem et al.'s 10K against the real set), and 2000 points per set
# for the exact W1 of 2-d data (an O(n^3) linear program).
IMAGE_SAMPLES, FEATURE_SET_SAMPLES, W1_POINTS = 50_000, 10_000, 2000
FEATURE_SET_EVALUATORS = ("precision_recall", "density_coverage")
# What a protocol (conf/protocol/) sets, by the eval.yaml keys that carry it: `num_samples: ${protocol.num_samples}`
PROTOCOL_FIELDS = ("num_samples", "split", "num_real", "splits")
CUSTOM = "custom"  # no protocol=: eval.yaml's own numbers (its `protocol:` node)
NEED_REAL = (*FEATURE_SET_EVALUATORS, "conditional")  # evaluators with nothing to score without real images


def evaluator_configs(run_evaluators: dict, settings: dict) -> DictConfig:
    """The run's evaluator configs with `settings` (conf/eval.yaml's `evaluators:`) replacing their keys;
    settings for an evaluator the run did not have are ignored."""
    configs = OmegaConf.create({n: c for n, c in run_evaluators.items() if isinstance(c, dict) and "_target_" in c})
    for name, overrides in settings.items():
        if name in configs:
            for key, value in overrides.items():
                configs[name][key] = value  # replaced, not merged: e.g. another extractor's own keys
    return configs


def protocol_changes(cfg: DictConfig) -> dict[str, Any]:
    """The numbers the command line set apart from the protocol's (`num_samples=30` under protocol=fid50k_train):
    {field: value used}; empty when the protocol is followed as defined, and always for "custom"."""
    if cfg.protocol.name == CUSTOM:
        return {}
    return {f: cfg[f] for f in PROTOCOL_FIELDS if cfg[f] != cfg.protocol[f]}


def describe_protocol(cfg: DictConfig, result: dict, changes: dict[str, Any], images: bool) -> dict[str, Any]:
    """What the scores of `result` follow: the protocol's name, whether it was followed as defined (and what a command
    line changed), the generated and real images as used (num_real: resolved from the whole split where the protocol
    reads all of it), IS splits, feature space (the `metrics` extractor's name) and seed. A run without image
    evaluators (`images` false: 2-d or text data) is scored by its evaluators' own counts (in the JSON beside)."""
    if not images:
        return {"name": cfg.protocol.name, "as_defined": True, "changed": {}, "seed": cfg.seed, "ema": result["ema"]}
    real_set = "none" if cfg.num_real == 0 else "all" if cfg.num_real is None else "drawn"
    return {
        "name": cfg.protocol.name,
        "as_defined": not changes,
        "changed": changes,
        "num_samples": result["num_samples"],  # IS/FID/KID's generated images (ImageQuality.describe)
        "split": cfg.split,
        "num_real": result["num_real"],
        "real_set": real_set,  # all: every image of the split once; drawn: num_real draws with replacement
        "splits": cfg.splits,
        "feature_space": result.get("extractor"),
        "seed": cfg.seed,
        "ema": result["ema"],
    }


def check_protocol(cfg: DictConfig, configs: DictConfig, ckpt_path: Path) -> DictConfig:
    """`configs` without the evaluators that need real images when the protocol has none (is50k); a named protocol
    on a run without image evaluators (2-d or text data) is refused: its numbers are image metrics' numbers."""
    name = cfg.protocol.name
    if name != CUSTOM and "quality" not in configs:
        raise UserInputError(
            f"protocol={name} sets the numbers of IS/FID, but {ckpt_path}'s run has no image evaluators (its data "
            f"config selects {', '.join(configs) or 'none'}): evaluate it without protocol=."
        )
    if cfg.num_real == 0:
        dropped = [n for n in NEED_REAL if n in configs]
        if dropped:
            log.info("protocol %s uses no real images: %s not run", name, ", ".join(dropped))
        configs = OmegaConf.create({n: c for n, c in configs.items() if n not in dropped})
    return configs


def record_run(cfg: DictConfig, ckpt_path: Path) -> str:
    """The start of an evaluation record's `run`: `run_name`, else the run directory's last two folders (a sweep's
    <objective>/<seedN>, a single run's <run_name>/<timestamp>: the leaf alone repeats across a sweep), then the
    checkpoint's name."""
    ckpt_path = Path(ckpt_path).resolve()
    run_dir = ckpt_path.parent.parent if ckpt_path.parent.name == "checkpoints" else ckpt_path.parent
    folders = [part for part in run_dir.parts if part != run_dir.anchor]  # not the root "/"
    name = cfg.get("run_name") or "/".join(folders[-2:]) or "run"
    return f"{name}/{ckpt_path.stem}"


def check_record_free(cfg: DictConfig, ckpt_path: Path) -> None:
    """Stop when results/<table>/ already holds a record of this run name, protocol and seed from a checkpoint at
    another path (another sweep's run of the same name, or this run moved): writing would replace it. Checked
    before scoring, and again just before writing; overwrite=true replaces it."""
    if cfg.get("overwrite"):
        return
    prefix = record_path(cfg.results_dir, cfg.results_table, record_run(cfg, ckpt_path)).name.removesuffix(".json")
    pattern = f"{glob.escape(prefix)}__{glob.escape(cfg.protocol.name)}__*__seed{cfg.seed}*.json"
    mine = str(Path(ckpt_path).resolve())
    for path in sorted((Path(cfg.results_dir) / cfg.results_table).glob(pattern)):
        try:
            other = json.loads(path.read_text()).get("checkpoint")
        except (OSError, ValueError):
            continue
        if other not in (None, mine):
            raise UserInputError(
                f"{path} holds the {cfg.protocol.name} record of the checkpoint {other} under the run name "
                f"{record_run(cfg, ckpt_path)!r}, and this evaluation of {mine} would replace it. If that is this "
                "run moved (or another clone's copy), add overwrite=true to replace the record; if it is another run, "
                "name this one's records run_name=NAME or write them to another results_table=. Nothing was written."
            )


def results_record(
    cfg: DictConfig, result: dict, protocol: dict[str, Any], metrics: dict[str, float], ckpt: dict
) -> dict[str, Any]:
    """The results record (wgangp.results) of one evaluation: the fields every record has, the protocol and every
    metric (`metrics`, named `val/...` as in run records). `run` names the run directory, checkpoint, protocol,
    feature space, seed (and the weight average), so evaluations of one checkpoint under different protocols are
    different records."""
    feature_space = protocol.get("feature_space") or "none"
    parts = [record_run(cfg, Path(result["ckpt_path"])), protocol["name"], feature_space, f"seed{cfg.seed}"]
    # training wall-clock, as run records hold it (the periodic evaluation's clock in the checkpoint), else unknown
    clocks = [s.get("wall_seconds") for k, s in (ckpt.get("callbacks") or {}).items() if "PeriodicEvaluation" in k]
    return new_record(
        cfg.results_table,
        "/".join(parts) + ("/ema" if result["ema"] else ""),
        overrides=list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
        seed=cfg.seed,
        iteration=result["generator_iter"],
        wall_seconds=clocks[0] if clocks else None,
        metrics=metrics,
        protocol=protocol["name"],
        protocol_settings=protocol,
        feature_space=protocol.get("feature_space"),
        num_samples=protocol.get("num_samples"),
        num_real=protocol.get("num_real"),
        split=protocol.get("split"),
        checkpoint=result["ckpt_path"],
        ema=result["ema"],
        eval_seconds=result["seconds"],
    )


def evaluate(cfg: DictConfig) -> dict:
    """Score the checkpoint `cfg.ckpt_path`; writes and returns the JSON result (see conf/eval.yaml)."""
    t0 = time.perf_counter()
    ckpt_path = Path(cfg.ckpt_path)
    if cfg.get("results_table"):
        check_record_free(cfg, ckpt_path)  # before minutes of scoring
    ckpt = load_checkpoint(ckpt_path)
    info = ckpt["wgangp"]
    run_config = info["run_config"]
    check_buildable(run_config, ckpt_path)  # the data module, nets, objective and evaluators are built from it
    with open_dict(cfg):
        cfg.data = run_config["data"]  # so `${data}` (metrics=classifier's extractor) means the run's data
    changes = protocol_changes(cfg)
    settings = OmegaConf.to_container(cfg.evaluators, resolve=True)  # resolved here, where `data` is the run's
    # num_samples=null: each measure's own protocol size; a number given is used by every measure
    if settings["quality"].get("num_samples") is None:  # evaluators.quality.num_samples=N given: it stands
        settings["quality"]["num_samples"] = IMAGE_SAMPLES
    for name in FEATURE_SET_EVALUATORS:
        if name in settings and settings[name].get("num_samples") is None:
            settings[name]["num_samples"] = FEATURE_SET_SAMPLES
    if settings["w1"].get("num_points") is None:
        settings["w1"]["num_points"] = cfg.num_samples or W1_POINTS
    if settings.get("conditional", {}).get("num_real") is None:  # the whole split: per-class FID keeps its own
        settings.get("conditional", {}).pop("num_real", None)
    configs = evaluator_configs(run_config.get("evaluators") or {}, settings)
    if not configs:
        raise UserInputError(
            f"{ckpt_path}'s run config selects no evaluators, so there is nothing to score: it was written by a "
            "wgangp before the evaluators (checkpoint format 1) or trained on a data config that lists none. "
            "Sample it with src/sample.py and score the samples, or evaluate a checkpoint of a current run."
        )
    configs = check_protocol(cfg, configs, ckpt_path)
    # one extractor for every evaluator in the `metrics` feature space (Inception, DINOv2 ViT-L: built once), and
    # built now, so missing weights stop the evaluation before the run is rebuilt and anything is generated
    metrics_extractor = OmegaConf.to_container(cfg.metrics.extractor, resolve=True)
    shared_extractor = functools.cache(instantiate(cfg.metrics.extractor))
    shares = {n for n, c in configs.items() if c.get("extractor") == metrics_extractor}
    if shares:
        shared_extractor()
    datamodule, objective = build(OmegaConf.create(run_config))  # the data module comes set up
    check_weights(ckpt["state_dict"], objective.state_dict(), ckpt_path, "the run's")
    objective.load_state_dict(ckpt["state_dict"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    objective.to(device)
    ema = use_ema(ckpt, cfg.get("ema"), ckpt_path)  # the generator's weight average, or the raw generator
    generator = objective.ema_generator.module if ema else objective.generator
    # <checkpoint>.eval.json, or <checkpoint>.<protocol>.eval.json: one file per protocol beside the checkpoint
    suffix = ".eval.json" if cfg.protocol.name == CUSTOM else f".{cfg.protocol.name}.eval.json"
    out = Path(cfg.out) if cfg.out else ckpt_path.with_suffix(suffix)
    # what the callback gives the evaluators in training, but the latents of seed= (the z of
    # wgangp.sample(ckpt, n, seed)): the same builder, so both paths score the same samples
    context = objective_context(objective, out_dir=out.parent, device=device, seed=cfg.seed)
    result: dict = {
        "ckpt_path": str(ckpt_path.resolve()),
        "generator_iter": info["generator_iter"],
        "seed": cfg.seed,
        "ema": ema,
    }
    scores: dict[str, dict[str, float]] = {}
    for name, config in configs.items():
        if name in shares:
            fields = {k: v for k, v in config.items() if k != "extractor"}
            evaluator: Evaluator = instantiate(fields, extractor=shared_extractor)
        else:
            evaluator = instantiate(config)
        evaluator.setup(datamodule, context)
        with torch.no_grad(), eval_mode(generator, objective.critic):
            scores[name] = evaluator.evaluate(generator, objective.critic)
        result.update(evaluator.describe())
    protocol = describe_protocol(cfg, result, changes, "quality" in configs)  # counts as the evaluators resolved them
    label = protocol_label(protocol)
    for name, values in scores.items():
        if values:
            log.info("%s, protocol %s: %s", name, label, values)
    metrics = {k: v for m in scores.values() for k, v in m.items()}  # val/fid, ...
    result.update({k.removeprefix("val/"): v for k, v in metrics.items()})
    result["protocol"] = protocol  # every score of this file follows it
    result["seconds"] = time.perf_counter() - t0
    text = json.dumps(result, indent=2)
    try:
        with writing(out, "evaluation result"):
            atomic_write_text(out, text)
        if cfg.results_table:
            check_record_free(cfg, ckpt_path)  # again: another evaluation may have written it while this one scored
            record = results_record(cfg, result, protocol, metrics, ckpt)
            with writing(Path(cfg.results_dir) / cfg.results_table, "results record"):
                path = write_record(Path(cfg.results_dir), record)
            log.info("wrote the results record %s", path)
    except OutputWriteError:
        print(text)  # the scores took minutes to compute: keep them on stdout before the error exits (4)
        raise
    log.info("wrote %s, protocol %s: %s", out, label, {k.removeprefix("val/"): v for k, v in metrics.items()})
    return result


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")
@entry_point
def main(cfg: DictConfig) -> None:
    check_values(cfg, EVAL_RULES, " (see conf/eval.yaml)")
    if cfg.get("results_table") is not None:
        check_table_name(cfg.results_table, "results_table")
    check_checkpoint_path(cfg)
    # a config directory the user added (--config-dir, hydra.searchpath) names their own classes: trusted
    trust_config_dir(*(s.path for s in HydraConfig.get().runtime.config_sources if s.schema == "file"))
    evaluate(cfg)
