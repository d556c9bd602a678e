"""Record a technique-comparison sweep (sweeps/techniques_cpu.yaml or limited_data_cpu.yaml) and render its docs.

    .venv/bin/python scripts/techniques.py logs/sweeps/techniques_cpu [--table techniques_cpu] [--plot docs/x.png]

Writes one record per finished run to results/<table>/ (wgangp.results), re-renders every docs table drawn from
the records (docs/*.md), prints the tables and draws the curves (mean over seeds) against generator iterations and
training wall-clock.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wgangp.cli import entry_point
from wgangp.experiments.techniques import (
    render_conditional_table,
    render_overfitting_table,
    render_table,
    save_curves,
    sweep_records,
)
from wgangp.results import checkout_docs, keep_records

ROOT = Path(__file__).resolve().parents[1]


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", help="the sweep's folder (hydra.sweep.dir)")
    parser.add_argument("--table", help="the records' folder under results/ (default: the sweep folder's name)")
    parser.add_argument("--plot", help="the PNG to draw (default: <sweep dir>/<table>.png)")
    parser.add_argument("--metrics", nargs="+", default=["val/fid", "val/recall", "val/coverage"], help="to plot")
    parser.add_argument("--commit", help="the commit that ran runs whose result.json names none")
    parser.add_argument("--results", default=ROOT / "results", type=Path, help="the records' root (results/)")
    parser.add_argument(
        "--docs",
        type=Path,
        help="the docs folder whose tables to re-render (default: the checkout's, when --results is its results/)",
    )
    args = parser.parse_args()
    sweep_dir = Path(args.sweep_dir)
    table = args.table or sweep_dir.name
    records = sweep_records(sweep_dir, table, args.commit)
    docs = sorted(args.docs.glob("*.md")) if args.docs else checkout_docs(args.results, ROOT)
    changed = keep_records(records, args.results, docs)
    print(render_table(records), end="\n\n")
    print(render_overfitting_table(records), end="\n\n")
    if any("val/cond_accuracy" in r["metrics"] for r in records):
        print(render_conditional_table(records), end="\n\n")
    print(f"wrote {save_curves(records, Path(args.plot or sweep_dir / f'{table}.png'), tuple(args.metrics))}")
    print("re-rendered: " + (", ".join(changed) if changed else "nothing changed"))


if __name__ == "__main__":
    main()
