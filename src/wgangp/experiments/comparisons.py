"""Docs tables of the comparison scripts, rendered from their results records (wgangp.results): the stabilisers
on 25 Gaussians (scripts/stabilisers.py), the Lipschitz constraints (scripts/lipschitz_compare.py) and a data
set's score range (scripts/score_range.py). Each script writes one record per run and prints the same rendering
that a docs block `<!-- rendered from results/NAME by wgangp.experiments.comparisons.render_... -->` shows.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

STABILISER_METRICS = (("val/modes", "{:.1f}"), ("val/high_quality", "{:.3f}"), ("val/w1", "{:.3f}"))
# lipschitz_compare.py's columns, in the tables' order: metric in the records -> column title
LIPSCHITZ_COLUMNS = {
    "val/w1": "W1",
    "val/modes": "modes",
    "val/high_quality": "high quality",
    "val/inception_score": "IS",
    "val/fid": "FID",
}


def _values(records: list[dict[str, Any]], key: str) -> list[float]:
    return [v for r in records if (v := r["metrics"].get(key)) is not None and math.isfinite(v)]


def _grouped(records: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    """Records by `key` (a field the script wrote), in the order the script measured them (sorted by seed)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: (r.get("order", 0), r["seed"])):
        groups.setdefault(record[key], []).append(record)
    return groups


def render_stabilisers(records: list[dict[str, Any]]) -> str:
    """Markdown: per method, modes covered, high-quality fraction and W1 as mean ± std (each seed's value in
    brackets), the seeds and the mean seconds per run."""
    rows = [
        "| method | modes (of 25) | high-quality fraction | W1 | seeds | s/run |",
        "|---|---|---|---|---|---|",
    ]
    for method, runs in _grouped(records, "method").items():
        cells = []
        for key, fmt in STABILISER_METRICS:
            values = _values(runs, key)
            if not values:  # every seed diverged (a NaN metric is stored as null)
                cells.append("n/a")
                continue
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            each = ", ".join(f"{v:.3g}" for v in values)
            cells.append(f"{fmt.format(statistics.mean(values))} ± {fmt.format(spread)} ({each})")
        rows.append(f"| {method} | {' | '.join(cells)} | {len(runs)} | {_mean_seconds(runs)} |")
    return "\n".join(rows)


def _mean_seconds(runs: list[dict[str, Any]]) -> str:
    seconds = [r["wall_seconds"] for r in runs if r.get("wall_seconds") is not None]
    return f"{statistics.mean(seconds):.0f}" if seconds else "n/a"


def _spread(values: list[float]) -> str:
    """'mean +- sample std' of the finite values, the value alone for one, 'n/a' for none."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{statistics.mean(values):.3g} +- {statistics.stdev(values):.2g}"


def render_lipschitz(records: list[dict[str, Any]]) -> str:
    """Markdown, per setup: its generator iterations, then per method the seeds, each reported metric as mean +-
    sample std over the seeds, and the mean training seconds."""
    parts = []
    for setup, setup_runs in _grouped(records, "setup").items():
        columns = [k for k in LIPSCHITZ_COLUMNS if any(k in r["metrics"] for r in setup_runs)]
        head = ["method", "seeds", *[LIPSCHITZ_COLUMNS[k] for k in columns], "train s (mean)"]
        lines = [f"{setup}, {setup_runs[0]['iteration']} generator iterations", ""]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for method, runs in _grouped(setup_runs, "method").items():
            cells = [_spread(_values(runs, k)) for k in columns]
            lines.append(f"| {method} | {len(runs)} | " + " | ".join(cells) + f" | {_mean_seconds(runs)} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def render_score_range(records: list[dict[str, Any]]) -> str:
    """Markdown: the IS (mean +- std over its splits) of each scored image set, real images first."""
    lines = ["| images | IS |", "|---|---|"]
    for r in sorted(records, key=lambda r: r.get("order", 0)):
        mean, std = (r["metrics"].get(k) for k in ("val/inception_score", "val/inception_score_std"))
        score = "n/a" if mean is None else f"{mean:.2f} +- {math.nan if std is None else std:.2f}"
        lines.append(f"| {r['images']} | {score} |")
    return "\n".join(lines)
