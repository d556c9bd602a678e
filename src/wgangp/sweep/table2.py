"""Table 2 (Sec. 5.1) and App. C's comparison, read from a sweep's result files (wgangp.sweep.results).

    python scripts/table2.py logs/sweeps/random_archs         # = make table2 SWEEP_DIR=...

Table 2: for each minimum score t, how many architectures only the standard GAN trained (score > t),
only WGAN-GP, both, or neither. A run that failed or has no result (killed, never started) has not
succeeded; such runs are listed under the table. The expected runs are read from the sweep's
multirun.yaml (Hydra's record of the sweep), so runs that never started are counted too.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from wgangp.errors import UserInputError
from wgangp.nets.random_arch import TABLE_1, sample_architecture
from wgangp.sweep.results import RESULT_FILE, read_result

TABLE_2_THRESHOLDS = (1.0, 3.0, 5.0, 7.0, 9.0)  # Table 2
TABLE_5_THRESHOLDS = tuple(1.0 + 0.5 * i for i in range(17))  # App. B, Table 5: 1.0, 1.5, ..., 9.0
GAN, WGAN_GP, ONE_SIDED = "dcgan", "wgan_gp", "wgan_gp_one_sided"
COLUMNS = ("only GAN", "only WGAN-GP", "both succeeded", "both failed")


@dataclass(frozen=True)
class Sweep:
    """The results of one sweep: results[(objective, arch_seed)] for every run with a result file, the
    (objective, arch_seed) pairs the sweep was launched with (or, without multirun.yaml, those seen), and
    the success thresholds its config names (a CPU preset's score range is not Inception's)."""

    directory: Path
    results: dict[tuple[str, int], dict[str, Any]]
    expected: list[tuple[str, int]]
    thresholds: tuple[float, ...] = TABLE_2_THRESHOLDS  # the sweep config's `sweep.thresholds`, else Table 2's

    @property
    def objectives(self) -> list[str]:
        return sorted({o for o, _ in self.expected})

    @property
    def arch_seeds(self) -> list[int]:
        return sorted({k for _, k in self.expected})

    def score(self, objective: str, arch_seed: int) -> float | None:
        """The run's final score, or None when it failed or has no result (not succeeded at any threshold)."""
        result = self.results.get((objective, arch_seed))
        return result["score"] if result is not None and result["status"] == "ok" else None

    def problems(self, objectives: Iterable[str]) -> list[str]:
        """One line per run of these objectives that failed or has no result."""
        lines = []
        for objective, k in self.expected:
            if objective not in objectives:
                continue
            result = self.results.get((objective, k))
            if result is None:
                lines.append(f"{objective} arch_seed {k}: missing (no {RESULT_FILE}: not started, running or killed)")
            elif result["status"] != "ok":
                lines.append(
                    f"{objective} arch_seed {k}: failed at generator iteration "
                    f"{result.get('generator_iters')}: {result.get('reason')}"
                )
        return lines


def sweep_values(override: str) -> list[str]:
    """The values Hydra's basic sweeper gives one `key=value` sweep entry (`a,b`, `range(0,200)`, ...)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    (parsed,) = OverridesParser.create().parse_overrides([override])
    return [str(v) for v in parsed.sweep_string_iterator()] if parsed.is_sweep_override() else [parsed.value()]


def expected_runs(sweep_dir: Path) -> list[tuple[str, int]] | None:
    """(objective, arch_seed) of every job in the sweep's multirun.yaml (its sweeper params and the
    command-line overrides), or None when there is no multirun.yaml or it does not sweep both keys."""
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return None
    cfg = OmegaConf.load(path)
    entries = {str(k): f"{k}={v}" for k, v in (OmegaConf.select(cfg, "hydra.sweeper.params") or {}).items()}
    for override in OmegaConf.select(cfg, "hydra.overrides.task") or []:
        key = override.split("=", 1)[0].lstrip("+~")
        entries[key] = override.lstrip("+")
    if "objective" not in entries or "arch_seed" not in entries:
        return None
    objectives = sweep_values(entries["objective"])
    seeds = [int(k) for k in sweep_values(entries["arch_seed"])]
    return [(o, k) for k, o in itertools.product(seeds, objectives)]


def configured_thresholds(sweep_dir: Path) -> tuple[float, ...] | None:
    """`sweep.thresholds` of the sweep's multirun.yaml (e.g. sweeps/random_archs_cpu.yaml's, chosen for its
    classifier's score range), or None when there is no multirun.yaml or it names none."""
    path = sweep_dir / "multirun.yaml"
    values = OmegaConf.select(OmegaConf.load(path), "sweep.thresholds") if path.is_file() else None
    return None if values is None else tuple(float(t) for t in values)


def load_sweep(sweep_dir: str | Path) -> Sweep:
    """Every result.json under `sweep_dir` (at any depth), keyed by (objective, arch_seed)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise UserInputError(
            f"SWEEP_DIR={sweep_dir} is not a directory. Pass the sweep's folder, e.g. "
            "make table2 SWEEP_DIR=logs/sweeps/random_archs (the sweep writes it: hydra.sweep.dir)."
        )
    results = {}
    for path in sorted(sweep_dir.rglob(RESULT_FILE)):
        result = read_result(path.parent)
        if result is None or result.get("objective") is None or result.get("arch_seed") is None:
            continue
        results[(result["objective"], int(result["arch_seed"]))] = result
    # multirun.yaml holds the last launch's list only: a sweep resumed in pieces (arch_seed=1,3 after 0,2) keeps
    # the runs of the earlier pieces too, each architecture with every objective of the sweep
    listed = expected_runs(sweep_dir) or []
    objectives = list(dict.fromkeys([o for o, _ in listed] + sorted({o for o, _ in results})))
    seeds = sorted({k for _, k in listed} | {k for _, k in results})
    expected = [(o, k) for k in seeds for o in objectives]
    if not expected:
        raise UserInputError(
            f"{sweep_dir} holds no {RESULT_FILE} with an objective and arch_seed and no multirun.yaml naming "
            "them: is it the folder of a random-architecture sweep (make sweep-random-archs)?"
        )
    return Sweep(sweep_dir, results, expected, configured_thresholds(sweep_dir) or TABLE_2_THRESHOLDS)


def outcome_counts(
    sweep: Sweep, thresholds: Sequence[float], first: str = GAN, second: str = WGAN_GP
) -> list[dict[str, Any]]:
    """Table 2's rows: per threshold t, architectures where only `first` / only `second` / both / neither
    scored > t (the paper's "inception score > min score"). Each row sums to the number of architectures."""
    rows = []
    for t in thresholds:
        counts = dict.fromkeys(COLUMNS, 0)
        for k in sweep.arch_seeds:
            a, b = (sweep.score(o, k) for o in (first, second))
            ok_a, ok_b = a is not None and a > t, b is not None and b > t
            counts[
                COLUMNS[0]
                if ok_a and not ok_b
                else COLUMNS[1]
                if ok_b and not ok_a
                else COLUMNS[2]
                if ok_a
                else COLUMNS[3]
            ] += 1
        rows.append({"min score": t, **counts})
    return rows


def pairwise_wins(sweep: Sweep, first: str = WGAN_GP, second: str = ONE_SIDED) -> dict[str, int]:
    """App. C: in how many architectures `first` scored higher than `second`, and the reverse. A run that
    failed or is missing scored lower than one that finished; "neither" counts ties and both not scored."""
    wins = {first: 0, second: 0, "neither": 0}
    for k in sweep.arch_seeds:
        a, b = sweep.score(first, k), sweep.score(second, k)
        if a is not None and (b is None or a > b):
            wins[first] += 1
        elif b is not None and (a is None or b > a):
            wins[second] += 1
        else:
            wins["neither"] += 1
    return wins


def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(f"{r[h]:.1f}" if h == "min score" else str(r[h]) for h in header) + " |" for r in rows]
    return "\n".join(lines)


def report(sweep: Sweep, thresholds: Sequence[float] | None = None) -> str:
    """Markdown: Table 2 (if the sweep has both dcgan and wgan_gp), App. C's comparison (if it has both
    penalties), and the runs that failed or are missing. `thresholds`: default the sweep's own."""
    thresholds = sweep.thresholds if thresholds is None else thresholds
    objectives = set(sweep.objectives)
    n = len(sweep.arch_seeds)
    parts = [f"# {sweep.directory.name}: {n} architectures, objectives {', '.join(sorted(objectives))}"]
    compared: set[str] = set()
    if {GAN, WGAN_GP} <= objectives:
        compared |= {GAN, WGAN_GP}
        parts += [
            f"## Table 2: outcomes of training {n} random architectures (success: score > min score)",
            markdown_table(outcome_counts(sweep, thresholds)),
        ]
    if {WGAN_GP, ONE_SIDED} <= objectives:
        compared |= {WGAN_GP, ONE_SIDED}
        wins = pairwise_wins(sweep)
        parts += [
            f"## App. C: two-sided vs one-sided penalty over {n} architectures",
            f"The two-sided penalty scored higher in {wins[WGAN_GP]} architectures, the one-sided in "
            f"{wins[ONE_SIDED]}; neither in {wins['neither']} (equal, or both failed or missing). "
            "(Paper: 100 vs 77 of 174.)",
        ]
    if not compared:
        raise UserInputError(
            f"{sweep.directory} has runs of {sorted(objectives)}: Table 2 needs both {GAN} and {WGAN_GP}, App. C "
            f"both {WGAN_GP} and {ONE_SIDED}. Point SWEEP_DIR at a sweep of sweeps/random_archs*.yaml or one_sided."
        )
    scored = {o: [s for k in sweep.arch_seeds if (s := sweep.score(o, k)) is not None] for o in sorted(compared)}
    parts.append(
        "Final scores: "
        + "; ".join(
            f"{o} {len(v)}/{n} finished" + (f", median {sorted(v)[len(v) // 2]:.2f}, max {max(v):.2f}" if v else "")
            for o, v in scored.items()
        )
    )
    problems = sweep.problems(compared)
    parts.append(f"## Failed or missing runs ({len(problems)}), counted as not succeeded")
    parts.append("\n".join(f"- {p}" for p in problems) if problems else "none")
    return "\n\n".join(parts) + "\n"


def write_outputs(sweep: Sweep, out_dir: str | Path, thresholds: Sequence[float] | None = None) -> dict:
    """table2.md (the report), table2.csv (Table 2's rows) and table2_archs.csv (per architecture: the
    sampled Table 1 fields and each objective's status, score and score std) in `out_dir`.
    `thresholds`: default the sweep's own (`sweep.thresholds`, else Table 2's)."""
    thresholds = sweep.thresholds if thresholds is None else thresholds
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / "table2.md", "csv": out_dir / "table2.csv", "archs": out_dir / "table2_archs.csv"}
    text = report(sweep, thresholds)
    paths["md"].write_text(text)
    objectives = sweep.objectives
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.writer(f)
        if {GAN, WGAN_GP} <= set(objectives):
            rows = outcome_counts(sweep, thresholds)
            writer.writerow(list(rows[0]))
            writer.writerows([list(r.values()) for r in rows])
        if {WGAN_GP, ONE_SIDED} <= set(objectives):
            wins = pairwise_wins(sweep)
            writer.writerow(["higher score", *wins])
            writer.writerow(["architectures", *wins.values()])
    with open(paths["archs"], "w", newline="") as f:
        writer = csv.writer(f)
        per_objective = ("status", "score", "score_std", "generator_iters", "reason")
        writer.writerow(["arch_seed", *TABLE_1, *(f"{o}_{c}" for o in objectives for c in per_objective)])
        for k in sweep.arch_seeds:
            try:
                arch = sample_architecture(k)
            except ValueError:  # an invalid arch_seed in the sweep (its runs failed): no fields
                arch = {}
            row: list[Any] = [k, *(arch.get(field) for field in TABLE_1)]
            for o in objectives:
                r = sweep.results.get((o, k))
                row += [r.get(c) for c in per_objective] if r else ["missing", None, None, None, None]
            writer.writerow(row)
    return {**paths, "text": text}


# ---- records (wgangp.results): the sweep's runs kept in the repository, and the docs table rendered from them ----
def sweep_records(sweep: Sweep, table: str, code: str | None = None) -> list[dict[str, Any]]:
    """One record per run with a result: objective, arch_seed, status, score (and its final metrics where the run
    directory still has its metrics.csv), with the sweep's thresholds and expected runs, so the table renders from
    the records alone."""
    from wgangp.results import machine, read_metrics_csv

    records = []
    for (objective, k), result in sorted(sweep.results.items(), key=lambda item: (item[0][1], item[0][0])):
        run_dir = next((p.parent for p in sweep.directory.rglob(RESULT_FILE) if read_result(p.parent) == result), None)
        metrics: dict[str, float] = {}
        if run_dir is not None and (run_dir / "metrics.csv").is_file():
            for row in read_metrics_csv(run_dir / "metrics.csv"):
                metrics.update({m: v for m, v in row.items() if m.startswith("val/")})
        records.append(
            {
                "table": table,
                "run": f"{objective}/arch{k}",
                "overrides": [f"objective={objective}", f"arch_seed={k}"],
                "commit": result.get("commit") or code or "unknown",  # the code that ran it
                "seed": result.get("seed", 0),
                "iteration": result.get("generator_iters"),
                "wall_seconds": metrics.get("val/wall_seconds"),
                "machine": machine(),
                "metrics": {**metrics, "score": result.get("score")},
                "objective": objective,
                "arch_seed": k,
                "status": result["status"],
                "reason": result.get("reason"),
                "arch": result.get("arch"),
                "thresholds": list(sweep.thresholds),
                "expected": [[o, s] for o, s in sweep.expected],
            }
        )
    return records


def render_records(records: list[dict[str, Any]]) -> str:
    """Markdown from Table 2 records: the outcome counts at the sweep's thresholds over the architectures measured
    with both objectives, then each architecture's scores."""
    results = {(r["objective"], int(r["arch_seed"])): {"status": r["status"], "score": r["metrics"]["score"]}
               for r in records}  # fmt: skip
    expected = [(o, int(k)) for o, k in records[0]["expected"]]
    both = sorted({k for _, k in expected if (GAN, k) in results and (WGAN_GP, k) in results})
    sweep = Sweep(Path(records[0]["table"]), results, [(o, k) for o, k in expected if k in both],
                  tuple(records[0]["thresholds"]))  # fmt: skip
    lines = [
        f"{len(both)} of {len({k for _, k in expected})} architectures measured with both objectives "
        f"(success: score > min score).",
        "",
        markdown_table(outcome_counts(sweep, sweep.thresholds)),
        "",
        "| arch_seed | G depth, sampled filters, BN, nonlinearity | D: the same | WGAN-GP | GAN |",
        "|---:|---|---|---:|---:|",
    ]
    by_key = {(r["objective"], int(r["arch_seed"])): r for r in records}
    for k in both:
        arch = by_key[(WGAN_GP, k)].get("arch") or {}
        g = ", ".join(str(arch.get(f"g_{f}", "?")) for f in ("depth", "base_filters", "batch_norm", "nonlinearity"))
        d = ", ".join(str(arch.get(f"d_{f}", "?")) for f in ("depth", "base_filters", "batch_norm", "nonlinearity"))
        cells = []
        for o in (WGAN_GP, GAN):
            r = by_key[(o, k)]
            cells.append(f"{r['metrics']['score']:.2f}" if r["status"] == "ok" else f"failed ({r['reason']})")
        lines.append(f"| {k} | {g} | {d} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)
