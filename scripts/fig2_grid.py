"""Fig. 2 (Sec. 5.2) from a sweeps/lsun_fig2.yaml sweep: one sample grid, rows architectures, columns methods.

    .venv/bin/python scripts/fig2_grid.py logs/sweeps/lsun_fig2 [--out fig2.png] [--samples 16] [--seed 0]

Samples each run's <model>/<method>/checkpoints/last.ckpt through wgangp.sample (the same z in every cell).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wgangp.cli import entry_point
from wgangp.experiments.image_figures import fig2_grid


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", help="the sweep's folder (hydra.sweep.dir), e.g. logs/sweeps/lsun_fig2")
    parser.add_argument("--out", help="the PNG to write (default: <sweep dir>/fig2.png)")
    parser.add_argument("--samples", type=int, default=16, help="samples per cell, a square number")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = fig2_grid(Path(args.sweep_dir), Path(args.out or Path(args.sweep_dir) / "fig2.png"), args.samples, args.seed)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
