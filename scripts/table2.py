"""Print and write Table 2 (Sec. 5.1) / App. C's comparison from a sweep's result files.

    .venv/bin/python scripts/table2.py logs/sweeps/random_archs [--out DIR] [--thresholds 1 3 5 7 9 | --table5]

Thresholds: --thresholds, else the sweep config's `sweep.thresholds` (from its multirun.yaml; the CPU
preset sweeps/random_archs_cpu.yaml sets its own), else Table 2's 1, 3, 5, 7, 9.

Writes table2.md, table2.csv and table2_archs.csv into the sweep's folder (or --out). With --table NAME, also one
record per run to results/NAME/ (wgangp.results) and re-renders the docs tables drawn from them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wgangp.cli import entry_point
from wgangp.errors import writing
from wgangp.results import check_table_name, checkout_docs, keep_records
from wgangp.sweep.table2 import TABLE_5_THRESHOLDS, load_sweep, sweep_records, write_outputs

ROOT = Path(__file__).resolve().parents[1]


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", help="the sweep's folder (hydra.sweep.dir), e.g. logs/sweeps/random_archs")
    parser.add_argument("--out", help="where to write the files (default: the sweep's folder)")
    parser.add_argument("--thresholds", type=float, nargs="+", help="default: the sweep's own, else 1 3 5 7 9")
    parser.add_argument("--table5", action="store_true", help="App. B's Table 5 thresholds: 1.0, 1.5, ..., 9.0")
    parser.add_argument("--table", help="write the runs' records to results/TABLE/ and re-render the docs")
    parser.add_argument("--commit", help="the commit that ran runs whose result.json names none")
    args = parser.parse_args()
    sweep = load_sweep(args.sweep_dir)
    with writing(args.out or args.sweep_dir, "Table 2 files in"):
        paths = write_outputs(sweep, args.out or args.sweep_dir, TABLE_5_THRESHOLDS if args.table5 else args.thresholds)
    print(paths["text"])
    print(f"wrote {paths['md']}, {paths['csv']}, {paths['archs']}")
    if args.table:
        records = sweep_records(sweep, check_table_name(args.table), args.commit)
        changed = keep_records(records, ROOT / "results", checkout_docs(ROOT / "results", ROOT))
        print(f"records in results/{args.table}/; re-rendered: " + (", ".join(changed) or "nothing changed"))


if __name__ == "__main__":
    main()
