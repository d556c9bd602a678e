"""Fig. 3 (Sec. 5.3) from a sweeps/fig3.yaml sweep: quality over generator iterations and wall-clock time.

    .venv/bin/python scripts/fig3_plot.py logs/sweeps/fig3 [--out fig3.png]

Reads <sweep dir>/<method>/metrics.csv of the four runs (those present), draws IS (and FID where logged)
against iterations (left) and training wall-clock seconds (right), prints a Markdown table, and draws the
runs' final samples side by side (<sweep dir>/fig3_samples.png, the same seed for every method). Writes one
results record per run to results/<--table>/ (default: the sweep folder's name; wgangp.results: commit the records
to keep the measurement) and re-renders the docs tables drawn from them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wgangp.cli import entry_point
from wgangp.experiments.image_figures import fig3_curves, fig3_records, fig3_samples, fig3_table, save_fig3
from wgangp.results import checkout_docs, keep_records

ROOT = Path(__file__).resolve().parents[1]


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", help="the sweep's folder (hydra.sweep.dir), e.g. logs/sweeps/fig3")
    parser.add_argument("--out", help="the PNG to write (default: <sweep dir>/fig3.png)")
    parser.add_argument("--table", help="the records' folder under --results (default: the sweep folder's name)")
    parser.add_argument("--commit", help="the commit that ran runs whose result.json names none")
    parser.add_argument("--results", default=ROOT / "results", type=Path, help="the records' root (results/)")
    args = parser.parse_args()
    sweep_dir = Path(args.sweep_dir)
    curves = fig3_curves(sweep_dir)
    path = save_fig3(curves, Path(args.out or sweep_dir / "fig3.png"))
    records = fig3_records(sweep_dir, list(curves), args.table or sweep_dir.resolve().name, args.commit)
    print(fig3_table(records))
    print(f"wrote {path}")
    grid = fig3_samples(sweep_dir, sweep_dir / "fig3_samples.png")
    if grid is not None:
        print(f"wrote {grid}")
    changed = keep_records(records, args.results, checkout_docs(args.results, ROOT))
    print(f"records in {args.results / records[0]['table']}/; re-rendered: " + (", ".join(changed) or "nothing"))


if __name__ == "__main__":
    main()
