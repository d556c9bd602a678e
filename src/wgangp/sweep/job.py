"""One job of a multirun (Sec. 5.1's benchmark): skip, resume or train it, and record its result."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from wgangp.cli import exit_code, user_message
from wgangp.config_checks import config_problems
from wgangp.errors import NonFiniteError, TrainingInterrupted
from wgangp.nets.random_arch import sample_architecture
from wgangp.results import commit
from wgangp.resume import own_resume_point
from wgangp.sweep.results import is_finished, make_result, read_result, write_result

log = logging.getLogger("wgangp")


def _finish_wandb(result: dict[str, Any]) -> None:
    """Close this run's W&B run (if logger=wandb started one) with its outcome as summary values, so the
    next run of the sweep, in the same process under the basic launcher, starts its own W&B run."""
    wandb = sys.modules.get("wandb")
    if wandb is None or wandb.run is None:
        return
    wandb.run.summary.update({k: result[k] for k in ("status", "reason", "score", "score_std", "generator_iters")})
    wandb.finish(exit_code=0 if result["status"] == "ok" else 1)


def run_sweep_job(cfg: DictConfig, train: Callable[..., dict[str, float]]) -> float | None:
    """One job of a multirun (Sec. 5.1's benchmark): skip it if its result.json says it finished, else
    train it, resuming from its own checkpoints/last.ckpt, and record the outcome in result.json.

    A crash or divergence is recorded as status "failed" with its reason and the sweep goes on
    (wgangp.sweep.results says which failures a re-run retries). Only an interruption (SIGINT/SIGTERM,
    TrainingInterrupted) propagates: it stops the sweep, and the same command resumes it. Returns the
    run's score (`sweep.score`), for sweepers that optimise it.
    """
    run_dir = Path(cfg.paths.output_dir)
    previous = read_result(run_dir)
    # A value that does not parse (`-m generator_iters=abc,4`) fails this job alone, before anything reads it.
    problems = config_problems(cfg)
    target = None if any(p.startswith("generator_iters=") for p in problems) else cfg.generator_iters
    if not problems and is_finished(previous, target):
        log.info("skipping %s: finished earlier (%s, score %s)", run_dir, previous["status"], previous["score"])
        return previous["score"]
    own = own_resume_point(run_dir)
    with open_dict(cfg):
        # A sweep resumes a run from its own directory only (last.ckpt, else its newest iter_*.ckpt): `last` must
        # not fall back to a sibling run (another architecture) as it does for single runs.
        if cfg.ckpt_path in (None, "", "last"):
            cfg.ckpt_path = None if own is None else str(own)
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
        message = user_message(e)
        if exit_code(e) is None:  # a bug: its traceback goes to the run's log
            log.exception("run failed: %s", run_dir)
        else:
            log.error("run failed: %s: %s", run_dir, message)
        # Divergence is the benchmark's outcome (Table 2 counts it as not succeeded); anything else is retried.
        status, reason, retry = "failed", f"{type(e).__name__}: {message}", not isinstance(e, NonFiniteError)
    else:
        score = metrics.get(score_name)
        if score is None:
            status, retry = "failed", True
            reason = (
                f"the run finished but logged no {score_name} (is the quality metric's feature extractor "
                "available? see the warnings in the run's log)"
            )
        elif not math.isfinite(score):
            status, reason, retry = "failed", f"non-finite {score_name}: {score}", False
        else:
            status, reason, retry = "ok", None, False
    try:
        arch = sample_architecture(arch_seed) if arch_seed is not None else None
    except ValueError:
        arch = None
    result = make_result(
        status=status,
        reason=reason,
        retry=retry,
        score_name=score_name,
        metrics=metrics,
        objective=HydraConfig.get().runtime.choices.get("objective"),
        arch_seed=arch_seed,
        arch=arch,
        generator_iters=record.get("generator_iter"),
        target_generator_iters=target,
        seconds=time.perf_counter() - t0,
        attempt=(previous or {}).get("attempt", 0) + 1,
        sweep=cfg.sweep.name,
        run_dir=str(run_dir),
        commit=commit(),
    )
    write_result(run_dir, result)
    _finish_wandb(result)
    log.info("%s: %s, %s = %s", run_dir, status, score_name, result["score"])
    return result["score"]
