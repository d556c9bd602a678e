"""One run of a sweep, recorded: `<run dir>/result.json`, and what re-running the sweep does with it.

A Hydra multirun (sweeps/*.yaml) gives every run a deterministic directory, so running the same command
again finds each run's previous result:

- status "ok": the run finished and `score` holds its final `sweep.score` metric (Table 2: the Inception
  Score). It is skipped.
- status "failed" with `retry: false`: the run diverged (a non-finite loss term or score). Divergence is
  the benchmark's outcome, not an accident: Table 2 counts it as "not succeeded", so it is skipped too.
- status "failed" with `retry: true`: anything else (out of memory, a full disk, a bug, a config error, a
  missing score because the metric's weights were absent). It is run again, resuming from its own
  checkpoints/last.ckpt when there is one.
- no result.json: never started, or killed (Ctrl-C, SIGTERM, a lost node); it resumes from last.ckpt.

A result is only reused for the same `generator_iters`: raising it extends finished runs from their
last.ckpt.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from wgangp.files import atomic_write_text

RESULT_FILE = "result.json"
STATUSES = ("ok", "failed")


def result_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / RESULT_FILE


def read_result(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's result, or None when it has none (or an unreadable one, which counts as none)."""
    path = result_path(run_dir)
    try:
        with open(path) as f:
            result = json.load(f)
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and result.get("status") in STATUSES else None


def write_result(run_dir: str | Path, result: dict[str, Any]) -> Path:
    """Write result.json atomically (temporary file, fsync, rename): a killed sweep never leaves half a file."""
    if result.get("status") not in STATUSES:
        raise ValueError(f"result status must be one of {STATUSES}; got {result.get('status')!r}")
    return atomic_write_text(result_path(run_dir), json.dumps(result, indent=2, sort_keys=True, allow_nan=False) + "\n")


def is_finished(result: dict[str, Any] | None, generator_iters: int | None = None) -> bool:
    """True when a re-run should skip this run (see the module docstring)."""
    if result is None:
        return False
    if generator_iters is not None and result.get("target_generator_iters") != int(generator_iters):
        return False
    return result["status"] == "ok" or not result.get("retry", True)


def finite_or_none(value: Any) -> float | None:
    """JSON has no NaN: a non-finite number is stored as null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def make_result(
    *,
    status: str,
    reason: str | None,
    retry: bool,
    score_name: str,
    metrics: dict[str, float],
    objective: str | None,
    arch_seed: int | None,
    arch: dict[str, Any] | None,
    generator_iters: int | None,
    target_generator_iters: int | None,
    seconds: float,
    attempt: int,
    sweep: str | None,
    run_dir: str,
    commit: str = "unknown",
) -> dict[str, Any]:
    """The record of one run. `score`/`score_std` are the final `score_name` and `score_name`_std
    (e.g. val/inception_score: the mean and std over 10 splits); `metrics` holds every final scalar."""
    return {
        "commit": commit,  # the code that ran it (wgangp.results.commit), for the records under results/
        "status": status,
        "reason": reason,
        "retry": bool(retry),
        "sweep": sweep,
        "objective": objective,
        "arch_seed": arch_seed,
        "arch": arch,
        "score_name": score_name,
        "score": finite_or_none(metrics.get(score_name)),
        "score_std": finite_or_none(metrics.get(f"{score_name}_std")),
        "metrics": {k: finite_or_none(v) for k, v in sorted(metrics.items())},
        "generator_iters": generator_iters,
        "target_generator_iters": None if target_generator_iters is None else int(target_generator_iters),
        "seconds": round(float(seconds), 3),
        "attempt": int(attempt),
        "run_dir": run_dir,
    }
