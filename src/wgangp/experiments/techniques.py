"""The technique comparisons (sweeps/techniques_cpu.yaml, sweeps/limited_data_cpu.yaml): records from a sweep's
run directories (<technique>/seed<k>/), the docs tables rendered from those records, and the plots.

    python scripts/techniques.py logs/sweeps/techniques_cpu     # records -> results/techniques_cpu/, docs, plot
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from wgangp.errors import UserInputError  # noqa: E402
from wgangp.plots import save_figure  # noqa: E402
from wgangp.results import mean_spread, protocol_line, read_metrics_csv, run_record  # noqa: E402
from wgangp.sweep.results import read_result  # noqa: E402

# sweeps/technique/: the folder names, in the tables' order, with their labels
TECHNIQUES = {
    "wgan_gp": "WGAN-GP (Alg. 1)",
    "wgan_gp_lazy": "WGAN-GP, lazy penalty (every 4th step)",
    "wgan_gp_diffaugment": "WGAN-GP + DiffAugment",
    "wgan_gp_ada": "WGAN-GP + ADA",
    "hinge_sn": "hinge + spectral norm",
    "rpgan_r1r2": "RpGAN + R1 + R2",
    "dcgan": "DCGAN",
}
CURVE = (
    "val/wall_seconds", "val/cond_accuracy", "val/fid_class_mean", "val/fid", "val/inception_score",
    "val/precision", "val/recall", "val/density", "val/coverage",
    "val/w_estimate_train", "val/w_estimate", "val/w_estimate_gap",
)  # fmt: skip


def finished(run_dir: Path) -> bool:
    """A sweep job whose result.json says ok, or a single run (no result.json) whose log reached its
    generator_iters."""
    result = read_result(run_dir)
    if result is not None:
        return result["status"] == "ok"
    config = run_dir / ".hydra" / "config.yaml"
    if not (config.is_file() and (run_dir / "metrics.csv").is_file()):
        return False
    rows = read_metrics_csv(run_dir / "metrics.csv")
    return bool(rows) and int(rows[-1]["step"]) >= int(OmegaConf.load(config).generator_iters)


def sweep_records(sweep_dir: Path, table: str, code: str | None = None) -> list[dict[str, Any]]:
    """One record per finished run under sweep_dir (<technique>/seed<k>/); a run still going or failed has none."""
    sweep_dir = Path(sweep_dir)
    runs = sorted(p.parent for p in sweep_dir.glob("*/seed*/metrics.csv") if finished(p.parent))
    if not runs:
        raise UserInputError(
            f"no finished run under {sweep_dir} (expected <technique>/seed<k>/ with metrics.csv): run `make "
            "sweep-techniques` (or sweep-limited-data) first, or pass its hydra.sweep.dir."
        )
    return [run_record(run, table, f"{run.parent.name}/{run.name}", CURVE, code) for run in runs]


def _by_technique(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(record["run"].split("/")[0], []).append(record)
    return {t: grouped[t] for t in [*TECHNIQUES, *sorted(set(grouped) - set(TECHNIQUES))] if t in grouped}


def _column(records: list[dict[str, Any]], key: str) -> str:
    return mean_spread([r["metrics"].get(key, math.nan) for r in records])


def render_table(records: list[dict[str, Any]]) -> str:
    """Markdown: per technique, the seeds, iterations, training seconds and the final FID, IS, precision, recall,
    density and coverage (classifier features, t10k), as mean ± std over the seeds."""
    lines = [
        "| technique | seeds | iterations | train s | FID | IS | precision | recall | density | coverage |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for technique, runs in _by_technique(records).items():
        cells = [TECHNIQUES.get(technique, technique), str(len(runs)), str(runs[0]["iteration"])]
        cells.append(mean_spread([r["wall_seconds"] for r in runs]))
        for key in ("val/fid", "val/inception_score", "val/precision", "val/recall", "val/density", "val/coverage"):
            cells.append(_column(runs, key))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_evaluated_table(records: list[dict[str, Any]]) -> str:
    """The same columns from src/eval.py's records of the runs' checkpoints (results_table=, run_name
    <technique>/seed<k>), under the line naming the protocol they were scored with: one protocol and one choice
    of generator (raw or weight average) per table, as a row averages its seeds."""
    mixed = {(protocol_line([r]), r.get("ema")) for r in records}
    if len(mixed) > 1:
        raise UserInputError(
            f"the records of {records[0]['table']} mix protocols or generators ({sorted(map(str, mixed))}): a row "
            "would average scores that are not comparable. Keep one protocol (and ema setting) per results table."
        )
    return protocol_line(records) + "\n\n" + render_table(records)


def render_curve_table(records: list[dict[str, Any]]) -> str:
    """Markdown: per technique and evaluation, FID, precision, recall, density and coverage as mean ± std over the
    seeds: which measure sees a collapse, and when."""
    keys = ("val/fid", "val/precision", "val/recall", "val/density", "val/coverage")
    lines = [
        "| technique | iteration | FID | precision | recall | density | coverage |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for technique, runs in _by_technique(records).items():
        n = min(len(r["curve"].get("step", [])) for r in runs)
        for i in range(n):
            cells = [mean_spread([r["curve"].get(k, [math.nan] * n)[i] for r in runs]) for k in keys]
            step = int(runs[0]["curve"]["step"][i])
            lines.append(f"| {TECHNIQUES.get(technique, technique)} | {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_overfitting_table(records: list[dict[str, Any]]) -> str:
    """Markdown (Fig. 5b): per technique, the critic's W1 estimate on its training images and on held-out ones at
    the end, their gap (train minus held-out: the critic's overfitting), and the final FID."""
    lines = [
        "| technique | seeds | iterations | W1 est. train | W1 est. held-out | gap | FID |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for technique, runs in _by_technique(records).items():
        cells = [TECHNIQUES.get(technique, technique), str(len(runs)), str(runs[0]["iteration"])]
        for key in ("val/w_estimate_train", "val/w_estimate", "val/w_estimate_gap", "val/fid"):
            cells.append(_column(runs, key))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _seed_mean(runs: list[dict[str, Any]], key: str, n: int) -> list[float]:
    return [sum(r["curve"][key][i] for r in runs) / len(runs) for i in range(n)]


def save_curves(records: list[dict[str, Any]], path: Path, metrics: tuple[str, ...] = ("val/fid",)) -> Path:
    """Each metric's mean over seeds against generator iterations (left) and training seconds (right)."""
    shown = [m for m in metrics if any(r["curve"].get(m) for r in records)]
    fig, axes = plt.subplots(max(1, len(shown)), 2, figsize=(11, 3.6 * max(1, len(shown))), squeeze=False)
    for row, metric in enumerate(shown):
        for technique, runs in _by_technique(records).items():
            n = min(len(r["curve"].get("step", [])) for r in runs)
            if n == 0 or any(metric not in r["curve"] for r in runs):
                continue
            y = _seed_mean(runs, metric, n)
            for col, x in enumerate(("step", "val/wall_seconds")):
                label = TECHNIQUES.get(technique, technique)
                axes[row, col].plot(_seed_mean(runs, x, n), y, marker=".", lw=1.2, label=label)
        for col, label in enumerate(("generator iterations", "wall-clock time (s, training only)")):
            axes[row, col].set_xlabel(label)
            axes[row, col].set_ylabel(metric.removeprefix("val/"))
            axes[row, col].grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    return save_figure(fig, path)


def render_conditional_table(records: list[dict[str, Any]]) -> str:
    """Markdown (experiment=fashion_conditional): per seed the final conditional accuracy, FID, mean per-class FID
    and the accuracy at each evaluation, then their mean ± std over the seeds."""
    lines = [
        "| seed | iterations | conditional accuracy | FID | mean per-class FID | accuracy over training |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        curve = r["curve"]
        steps = [(int(s), a) for s, a in zip(curve.get("step", []), curve.get("val/cond_accuracy", []), strict=False)]
        over = ", ".join(f"{a:.2f}@{s}" for s, a in steps if a is not None and not math.isnan(a))
        m = r["metrics"]
        lines.append(
            f"| {r['seed']} | {r['iteration']} | {m.get('val/cond_accuracy', math.nan):.3f} | "
            f"{m.get('val/fid', math.nan):.1f} | {m.get('val/fid_class_mean', math.nan):.1f} | {over} |"
        )
    lines.append(
        f"| mean ± std | | {_column(records, 'val/cond_accuracy')} | {_column(records, 'val/fid')} | "
        f"{_column(records, 'val/fid_class_mean')} | |"
    )
    return "\n".join(lines)
