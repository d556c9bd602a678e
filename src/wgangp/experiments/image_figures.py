"""Fig. 3 and Fig. 2 of the paper from a sweep's run directories (sweeps/fig3.yaml, sweeps/lsun_fig2.yaml).

Fig. 3: sample quality over generator iterations and over training wall-clock time, one curve per method,
read from each run's metrics.csv (`val/inception_score`, `val/fid` and `val/wall_seconds`, which the
periodic evaluation logs together; wall-clock excludes the time spent evaluating).
Fig. 2: one sample grid, a row per architecture and a column per method, sampled from each run's
last.ckpt through wgangp.sample.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from wgangp.errors import UserInputError  # noqa: E402
from wgangp.plots import save_figure  # noqa: E402
from wgangp.results import run_record  # noqa: E402

# Fig. 3's legend, in the paper's order (run folders are the sweep's `method` choices, conf/method/).
FIG3_METHODS = {
    "wgan_clip": "WGAN clipping (RMSProp)",
    "wgan_gp_rmsprop": "WGAN-GP (RMSProp)",
    "wgan_gp_adam": "WGAN-GP (Adam)",
    "dcgan": "DCGAN",
}
# Fig. 2's rows and columns (sweeps/lsun_fig2.yaml: <model>/<method>/).
FIG2_MODELS = {
    "dcgan": "Baseline (G: DCGAN, D: DCGAN)",
    "lsun_no_bn_const_filters": "G: no BN, constant filters",
    "lsun_mlp_g": "G: 4-layer 512-dim ReLU MLP",
    "lsun_no_norm": "No normalization in G or D",
    "lsun_gated": "Gated multiplicative nonlinearities",
    "lsun_tanh": "tanh nonlinearities",
    "resnet101": "101-layer ResNet G and D",
}
FIG2_METHODS = {"dcgan": "DCGAN", "lsgan": "LSGAN", "wgan_clip": "WGAN (clipping)", "wgan_gp_adam": "WGAN-GP (ours)"}
QUALITY = {"val/inception_score": "Inception Score", "val/fid": "FID"}


def read_quality_curve(metrics_csv: Path) -> dict[str, list[float]]:
    """{"step", "val/wall_seconds", "val/inception_score", "val/fid"} of the rows that hold a quality evaluation
    (rows of a resumed run's repeated iterations keep the last one)."""
    rows: dict[int, dict[str, float]] = {}
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("val/inception_score") not in (None, ""):
                rows[int(float(row["step"]))] = {k: float(v) for k, v in row.items() if k and v not in (None, "")}
    keys = ["step", "val/wall_seconds", *QUALITY]
    steps = sorted(rows)
    return {k: [rows[s].get(k, math.nan) for s in steps] for k in keys}


def fig3_curves(sweep_dir: Path) -> dict[str, dict[str, list[float]]]:
    """Fig. 3's runs found under sweep_dir (<method>/metrics.csv), by method, in the paper's order."""
    sweep_dir = Path(sweep_dir)
    files = {m: sweep_dir / m / "metrics.csv" for m in FIG3_METHODS}
    curves = {m: read_quality_curve(f) for m, f in files.items() if f.is_file()}
    curves = {m: c for m, c in curves.items() if c["step"]}
    if not curves:
        raise UserInputError(
            f"no Fig. 3 run with a logged val/inception_score under {sweep_dir} (expected <method>/metrics.csv for "
            f"method in {', '.join(FIG3_METHODS)}); run `make fig3` first, or pass its hydra.sweep.dir."
        )
    return curves


def save_fig3(curves: dict[str, dict[str, list[float]]], path: Path) -> Path:
    """Fig. 3: each quality metric over generator iterations (left) and wall-clock seconds (right)."""
    metrics = [k for k in QUALITY if any(not math.isnan(v) for c in curves.values() for v in c[k])]
    fig, axes = plt.subplots(len(metrics), 2, figsize=(10, 3.6 * len(metrics)), squeeze=False)
    for row, metric in enumerate(metrics):
        for col, x in enumerate(["step", "val/wall_seconds"]):
            ax = axes[row, col]
            for method, curve in curves.items():
                ax.plot(curve[x], curve[metric], marker=".", lw=1.2, label=FIG3_METHODS[method])
            ax.set_xlabel("generator iterations" if x == "step" else "wall-clock time (s, training only)")
            ax.set_ylabel(QUALITY[metric])
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    return save_figure(fig, path)


def fig3_records(sweep_dir: Path, methods: list[str], table: str, code: str | None = None) -> list[dict]:
    """One results record (wgangp.results) per Fig. 3 run of `methods` (fig3_curves' keys) under sweep_dir, with
    its quality curve."""
    curve_keys = ("val/inception_score", "val/wall_seconds", "val/fid")
    return [run_record(Path(sweep_dir) / m, table, m, curve_keys, code) for m in methods]


def fig3_table(records: list[dict]) -> str:
    """Markdown from Fig. 3's records: per method the last evaluation's iteration, wall-clock, IS and FID, and the
    best IS, in the paper's order."""
    lines = [
        "| method | iterations | wall-clock s | final IS | best IS | final FID |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    order = list(FIG3_METHODS)
    for record in sorted(records, key=lambda r: order.index(r["run"]) if r["run"] in order else len(order)):
        method, c = record["run"], record["curve"]
        last = {k: math.nan if c[k][-1] is None else c[k][-1] for k in c}  # a stored NaN reads back as null
        best = max((v for v in c["val/inception_score"] if v is not None), default=math.nan)
        lines.append(
            f"| {FIG3_METHODS.get(method, method)} | {int(last['step'])} | {last['val/wall_seconds']:.0f} | "
            f"{last['val/inception_score']:.2f} | {best:.2f} | {last['val/fid']:.1f} |"
        )
    return "\n".join(lines)


def sample_grid(
    cells: dict[tuple[str, str], Path], rows: dict[str, str], cols: dict[str, str], path: Path, samples: int, seed: int
) -> Path:
    """A mosaic of `samples` samples (a square number) per cell, rows x cols (keys -> titles), each cell sampled
    from its checkpoint through wgangp.sample with the same seed (the same z where the latent sizes agree);
    cells without one are blank, marked "not run"."""
    from wgangp.sampling import sample  # imported here: the Fig. 3 curves need no torch model code

    side = math.isqrt(samples)
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.4 * len(cols), 2.4 * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if (row, col) in cells:
                images = sample(cells[(row, col)], side * side, seed=seed)  # (N, C, H, W) in [-1, 1]
                n, c, h, w = images.shape
                mosaic = images.view(side, side, c, h, w).permute(0, 3, 1, 4, 2).reshape(side * h, side * w, c)
                mosaic = ((mosaic.clamp(-1, 1) + 1) / 2).float().numpy()
                ax.imshow(mosaic.squeeze(-1) if c == 1 else mosaic, cmap="gray" if c == 1 else None, vmin=0, vmax=1)
            else:
                ax.text(0.5, 0.5, "not run", ha="center", va="center", fontsize=8, transform=ax.transAxes)
            if i == 0:
                ax.set_title(cols[col], fontsize=9)
        axes[i, 0].set_ylabel(rows[row], fontsize=7)
    return save_figure(fig, path)


def fig3_samples(sweep_dir: Path, path: Path, samples_per_cell: int = 16, seed: int = 0) -> Path | None:
    """Fig. 3's final samples: one row, a column per method found under sweep_dir/<method>/checkpoints/last.ckpt
    (the same seed in every cell); None when no run has a checkpoint."""
    found = {
        ("final", m): ckpt
        for m in FIG3_METHODS
        if (ckpt := Path(sweep_dir) / m / "checkpoints" / "last.ckpt").is_file()
    }
    if not found:
        return None
    methods = {m: t for m, t in FIG3_METHODS.items() if ("final", m) in found}
    return sample_grid(found, {"final": "last checkpoint"}, methods, path, samples_per_cell, seed)


def fig2_grid(sweep_dir: Path, path: Path, samples_per_cell: int = 16, seed: int = 0) -> Path:
    """Fig. 2: a square mosaic of `samples_per_cell` samples per (architecture, method) run found under
    sweep_dir/<model>/<method>/checkpoints/last.ckpt; rows architectures, columns methods; runs not found
    are blank cells marked "not run"."""
    sweep_dir = Path(sweep_dir)
    found = {
        (m, k): ckpt
        for m in FIG2_MODELS
        for k in FIG2_METHODS
        if (ckpt := sweep_dir / m / k / "checkpoints" / "last.ckpt").is_file()
    }
    if not found:
        raise UserInputError(
            f"no Fig. 2 checkpoint under {sweep_dir} (expected <model>/<method>/checkpoints/last.ckpt); run "
            "`make lsun-fig2` first, or pass its hydra.sweep.dir."
        )
    models = {m: t for m, t in FIG2_MODELS.items() if any((m, k) in found for k in FIG2_METHODS)}
    return sample_grid(found, models, FIG2_METHODS, path, samples_per_cell, seed)
