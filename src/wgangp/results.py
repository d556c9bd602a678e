"""Measured results as data: one JSON record per measurement under results/<table>/, and the docs tables rendered
from them, so a number in docs/ is either regenerated from a committed record or marked as not re-measured.

A record is what one run (or one evaluation) measured, with what is needed to redo it:

    {"table": "techniques_cpu", "run": "wgan_gp/seed0", "overrides": ["technique=wgan_gp", "seed=0"],
     "commit": "3bab9c1", "seed": 0, "iteration": 500, "wall_seconds": 362.1, "machine": "...",
     "metrics": {"val/fid": 93.1, ...}, "curve": {"step": [...], "val/fid": [...], ...}}

A docs table is a block between two markers; the first names the record folder and the function that renders it
(a dotted path, the one indirection):

    <!-- rendered from results/techniques_cpu by wgangp.experiments.techniques.render_table -->
    | technique | ... |
    <!-- end of rendered table -->

`scripts/render_results.py` rewrites every such block from the records, and `--check` (run by the test suite)
fails on any block that differs from its rendering: a hand edit, or a record that was lost or never committed.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.utils import get_method

from wgangp.errors import UserInputError
from wgangp.files import atomic_write_text

BLOCK = re.compile(
    r"<!-- rendered from results/(?P<table>[\w.-]+) by (?P<render>[\w.]+) -->\n(?P<body>.*?)"
    r"<!-- end of rendered table -->",
    re.S,
)
RECORD_KEYS = ("table", "run", "overrides", "commit", "seed", "iteration", "wall_seconds", "machine", "metrics")


def machine() -> str:
    """The measuring machine, as a record states it: CPU model and count, and the torch build."""
    import torch

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{model}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}"


def commit(root: Path | None = None) -> str:
    """The checkout's commit (short hash, `+dirty` with uncommitted changes to tracked files), or "unknown"."""
    root = Path(root or os.environ.get("WGANGP_ROOT", "."))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=root, capture_output=True, text=True)
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _finite(value: Any) -> Any:
    """JSON has no NaN: a non-finite number is stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


TABLE_NAME = re.compile(r"[\w.-]+")  # a results folder a docs block can name (BLOCK)


def check_table_name(table: Any, option: str = "--table") -> str:
    """`table` when it is a results folder name a docs block can name, else a UserInputError naming `option`."""
    if not (isinstance(table, str) and TABLE_NAME.fullmatch(table) and table not in (".", "..")):
        raise UserInputError(
            f"{option}={table!r} is not a results folder name: use letters, digits, '_', '.' and '-' (the record "
            "goes to results/<table>/, which a docs block names)."
        )
    return table


def record_path(results_dir: Path, table: str, run: str) -> Path:
    """Where the record of `run` in `table` lives: results_dir/<table>/<run with / as __>.json."""
    return Path(results_dir) / check_table_name(table) / (str(run).replace("/", "__") + ".json")


def write_record(results_dir: Path, record: dict[str, Any]) -> Path:
    """Write `record` to its record_path, atomically; returns the path."""
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise ValueError(f"a results record needs {', '.join(missing)}")
    path = record_path(results_dir, record["table"], record["run"])
    return atomic_write_text(path, json.dumps(_finite(record), indent=1, sort_keys=True) + "\n")


def new_record(
    table: str,
    run: str,
    *,
    overrides: list[str],
    seed: int | None,
    iteration: int,
    wall_seconds: float | None,
    metrics: dict[str, float],
    code: str | None = None,
    host: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A record of a measurement made by this checkout on this machine (`code`, `host`: the commit and machine that
    made it, when others did); `fields`: what the table's renderer reads besides (e.g. the method's label)."""
    return {
        "table": check_table_name(table),
        "run": run,
        "overrides": list(overrides),
        "commit": code or commit(),
        "seed": seed,
        "iteration": int(iteration),
        "wall_seconds": wall_seconds,
        "machine": host or machine(),
        "metrics": metrics,
        **fields,
    }


def recorded(results_dir: Path, table: str, run: str) -> dict[str, Any]:
    """The record of `run` already in results_dir/table/, or {}: a script that finds a run finished keeps the
    commit and machine that measured it."""
    try:
        return json.loads(record_path(results_dir, table, run).read_text())
    except (OSError, ValueError):
        return {}


def checkout_docs(results_dir: Path, root: Path) -> list[Path]:
    """The docs of the checkout at `root` (docs/*.md, README.md) when results_dir is its own results/, else none:
    a checkout's docs render from its own records only."""
    root = Path(root)
    if Path(results_dir).resolve() != (root / "results").resolve():
        return []
    return [p for p in [*sorted((root / "docs").glob("*.md")), root / "README.md"] if p.is_file()]


def keep_records(records: list[dict[str, Any]], results_dir: Path, docs: list[Path]) -> list[str]:
    """Write each record under results_dir and re-render the blocks of `docs` drawn from the tables written (the
    others are left as they are). Returns the blocks that changed."""
    for record in records:
        write_record(results_dir, record)
    return render_docs(docs, results_dir, tables={r["table"] for r in records})


def read_records(results_dir: Path, table: str) -> list[dict[str, Any]]:
    """Every record of `table`, sorted by run; a UserInputError when there are none."""
    folder = Path(results_dir) / table
    files = sorted(folder.glob("*.json"))
    if not files:
        raise UserInputError(
            f"no records under {folder}: the table rendered from them cannot be produced. Commit the records the "
            "measurement wrote (its script writes them there), or re-measure."
        )
    return sorted((json.loads(f.read_text()) for f in files), key=lambda r: str(r["run"]))


def read_metrics_csv(path: Path) -> list[dict[str, float]]:
    """metrics.csv's rows as {column: value} for the values present, one per step: the rows of a step (training and
    evaluation rows, a resumed run's repeated step) merged, later values winning."""
    rows: dict[int, dict[str, float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            values = {k: float(v) for k, v in row.items() if k and v not in (None, "")}
            step = int(values.get("step", -1))
            rows[step] = {**rows.get(step, {}), **values}
    return [rows[s] for s in sorted(rows)]


def run_record(
    run_dir: Path, table: str, run: str, curve_keys: tuple[str, ...] = (), code: str | None = None
) -> dict[str, Any]:
    """The record of a finished run directory: its command-line overrides (.hydra/overrides.yaml), seed, last
    iteration, training wall-clock, the last value of every val/ metric, and the curve of `curve_keys` over the
    evaluations (rows holding the first key). The commit is the one its result.json names (a sweep job's), else
    `code`, else "unknown": never the checkout that happens to write the record."""
    import yaml

    run_dir = Path(run_dir)
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    config_file = run_dir / ".hydra" / "config.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
    config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
    rows = read_metrics_csv(run_dir / "metrics.csv")
    metrics: dict[str, float] = {}
    for row in rows:
        metrics.update({k: v for k, v in row.items() if k.startswith("val/")})
    evaluated = [r for r in rows if curve_keys and curve_keys[0] in r]
    curve = {k: [r.get(k, math.nan) for r in evaluated] for k in ("step", *curve_keys)} if curve_keys else {}
    return {
        "table": table,
        "run": run,
        "overrides": list(overrides or []),
        "commit": _run_commit(run_dir) or code or "unknown",
        "seed": config.get("seed"),
        "iteration": int(rows[-1]["step"]) if rows else 0,
        "wall_seconds": metrics.get("val/wall_seconds"),
        "machine": machine(),
        "metrics": metrics,
        "curve": curve,
    }


def _run_commit(run_dir: Path) -> str | None:
    try:
        value = json.loads((Path(run_dir) / "result.json").read_text()).get("commit")
    except (OSError, ValueError):
        return None
    return None if value in (None, "unknown") else value


def render_blocks(text: str, results_dir: Path, tables: set[str] | None = None) -> tuple[str, list[str]]:
    """`text` with every rendered block (of `tables`, when given) replaced by its rendering from the records, and
    the tables that changed."""
    changed: list[str] = []

    def render(match: re.Match) -> str:
        table, function = match["table"], match["render"]
        if tables is not None and table not in tables:
            return match[0]
        renderer: Callable[[list[dict[str, Any]]], str] = get_method(function)
        body = renderer(read_records(results_dir, table)).rstrip("\n") + "\n"
        if body != match["body"]:
            changed.append(table)
        return f"<!-- rendered from results/{table} by {function} -->\n{body}<!-- end of rendered table -->"

    return BLOCK.sub(render, text), changed


def render_docs(docs: list[Path], results_dir: Path, check: bool = False, tables: set[str] | None = None) -> list[str]:
    """Render every block (of `tables`, when given) of the docs files from the records (rewriting the files unless
    `check`); returns "<file>: <table>" for each block that differed."""
    differing = []
    for path in docs:
        text = path.read_text()
        new, changed = render_blocks(text, results_dir, tables)
        differing += [f"{path}: {table}" for table in changed]
        if changed and not check:
            atomic_write_text(path, new)
    return differing


def protocol_label(protocol: dict[str, Any]) -> str:
    """One line naming a protocol as used, for every score printed: "fid50k_train (50000 generated vs all 50000
    train images, inception-v3-compat features, seed 0)"; "..., with num_samples=30" where the command line
    changed it."""
    if "real_set" not in protocol:  # no image evaluators
        return f"{protocol['name']} (seed {protocol['seed']})"
    real = {
        "none": "no real images",
        "all": f"all {protocol['num_real']} {protocol['split']} images",
        "drawn": f"{protocol['num_real']} {protocol['split']} images drawn with replacement",
    }[protocol["real_set"]]
    changed = ", ".join(f"{k}={'null' if v is None else v}" for k, v in protocol["changed"].items())
    name = protocol["name"] + (f" with {changed}, not as defined" if changed else "")
    features = f", {protocol['feature_space']} features" if protocol["feature_space"] else ""
    return f"{name} ({protocol['num_samples']} generated vs {real}{features}, seed {protocol['seed']})"


def protocol_line(records: list[dict[str, Any]]) -> str:
    """The sentence a table of evaluation records (src/eval.py results_table=) starts with: the protocol every score
    follows, as eval.py labels it; one per distinct protocol if the records mix them."""
    labels = sorted({protocol_label(r["protocol_settings"]) for r in records if r.get("protocol_settings")})
    if not labels:
        return "Protocol: not recorded."
    return "Protocol: " + "; ".join(labels) + "."


def mean_spread(values: list[float]) -> str:
    """'mean ± sample std' of the finite values (n - 1 in the std; a single value alone), 'n/a' for none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return "n/a"
    mean = sum(finite) / len(finite)
    if len(finite) == 1:
        return _number(mean, 3)
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))
    return f"{_number(mean, 3)} ± {_number(std, 2)}"


def _number(x: float, digits: int) -> str:
    """`digits` significant digits, without an exponent for numbers of 1 and more (696, not 7e+02)."""
    text = f"{x:.{digits}g}"
    return f"{x:.0f}" if "e+" in text else text
