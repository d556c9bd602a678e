"""Figures written into run directories (matplotlib, no display needed)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from wgangp.errors import writing  # noqa: E402


@torch.no_grad()
def critic_grid(critic: Callable[[torch.Tensor], torch.Tensor], extent: float, resolution: int = 128):
    """Critic values on a resolution x resolution grid over [-extent, extent]^2: (xs, ys, values)."""
    ticks = torch.linspace(-extent, extent, resolution)
    xx, yy = torch.meshgrid(ticks, ticks, indexing="xy")
    points = torch.stack([xx.flatten(), yy.flatten()], dim=1)
    values = critic(points).reshape(resolution, resolution)
    return ticks.numpy(), ticks.numpy(), values.float().numpy()


def draw_value_surface(ax, critic, real: torch.Tensor, fake: torch.Tensor | None, extent: float, title: str = ""):
    """Fig. 1a style: the critic's value surface as contours, real points and generated points on top."""
    xs, ys, values = critic_grid(critic, extent)
    ax.contour(xs, ys, values, levels=20, cmap="viridis", linewidths=0.8)
    real = real.detach().cpu().float()
    ax.scatter(real[:, 0], real[:, 1], s=4, c="tab:orange", marker="+", label="real")
    if fake is not None:
        fake = fake.detach().cpu().float()
        ax.scatter(fake[:, 0], fake[:, 1], s=4, c="tab:green", marker="+", label="generated")
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def save_value_surface(path: Path, critic, real, fake, extent: float = 3.0, title: str = "") -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    draw_value_surface(ax, critic, real, fake, extent, title)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    return save_figure(fig, path)


def save_curve(
    path: Path,
    steps: Sequence[float],
    values: Sequence[float],
    ylabel: str,
    xlabel: str = "generator iteration",
    floor: float | None = None,
    log_y: bool = False,
) -> Path:
    """A single metric curve; `floor` draws a dashed reference line (e.g. the W1 sampling floor)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(list(steps), list(values), marker=".", lw=1)
    if floor is not None:
        ax.axhline(floor, ls="--", c="gray", lw=0.8, label=f"reference {floor:.3g}")
        ax.legend()
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def save_curves(
    path: Path,
    steps: Sequence[float],
    curves: dict[str, Sequence[float]],
    ylabel: str,
    xlabel: str = "generator iteration",
) -> Path:
    """Several metric curves over the same steps, one legend entry each (Fig. 5b: training vs held-out)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in curves.items():
        ax.plot(list(steps), list(values), marker=".", lw=1, label=label)
    ax.legend()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    """Write `fig` to `path` and close it; a full disk or unwritable location is an OutputWriteError."""
    path = Path(path)
    try:
        with writing(path, "plot"):
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.tight_layout()
            # rendered in memory, then written by us: savefig onto a full disk (/dev/full) returns without error
            buffer = io.BytesIO()
            fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=110)
            path.write_bytes(buffer.getvalue())
    finally:
        plt.close(fig)
    return path


def save_value_surface_grid(path: Path, panels: dict[tuple[str, str], tuple], extent: float = 3.0) -> Path:
    """Fig. 1a: value surfaces, one row per method and one column per dataset.

    panels maps (method, dataset) to (critic, real (N, 2), fake (N, 2) or None).
    """
    methods = list(dict.fromkeys(m for m, _ in panels))
    datasets = list(dict.fromkeys(d for _, d in panels))
    fig, axes = plt.subplots(
        len(methods), len(datasets), figsize=(3.2 * len(datasets), 3.2 * len(methods)), squeeze=False
    )
    for i, method in enumerate(methods):
        for j, dataset in enumerate(datasets):
            critic, real, fake = panels[(method, dataset)]
            draw_value_surface(axes[i, j], critic, real, fake, extent, title=dataset if i == 0 else "")
        axes[i, 0].set_ylabel(method, fontsize=10)
    return save_figure(fig, path)


def save_layer_gradient_norms(path: Path, norms: dict[str, Sequence[float]]) -> Path:
    """Fig. 1b (left): per-layer gradient norms against layer depth, log scale, one line per method."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in norms.items():
        ax.plot(range(1, len(values) + 1), list(values), marker="o", lw=1.2, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("critic layer (1 = first)")
    ax.set_ylabel("||d critic loss / d activations||")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def save_weight_histograms(path: Path, weights: dict[str, torch.Tensor], clips: dict[str, float | None]) -> Path:
    """Fig. 1b (right): histograms of all critic weights per method; dashed lines at +-c when clipped."""
    fig, axes = plt.subplots(len(weights), 1, figsize=(6, 1.9 * len(weights)), squeeze=False)
    for ax, (label, w) in zip(axes[:, 0], weights.items(), strict=True):
        ax.hist(w.detach().cpu().float().numpy(), bins=200, color="tab:blue")
        c = clips.get(label)
        if c is not None:
            for x in (-c, c):
                ax.axvline(x, ls="--", c="gray", lw=0.8)
        ax.set_title(label, fontsize=9)
        ax.set_yscale("log")
        ax.locator_params(axis="x", nbins=6)  # c = 0.001 tick labels overlap otherwise
    axes[-1, 0].set_xlabel("critic weight value")
    return save_figure(fig, path)
