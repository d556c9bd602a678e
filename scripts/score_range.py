"""The score range of a data set under its metrics: IS of its held-out real images (what a perfect
generator scores) and of untrained generators (where every run starts), for choosing a sweep's success
thresholds (sweeps/random_archs_cpu.yaml's `sweep.thresholds`).

    WGANGP_DATA_DIR=$HOME/data .venv/bin/python scripts/score_range.py \\
        data=fashion_mnist data.download=false metrics=classifier model=random_arch \\
        model.generator.filter_scale=0.25 --arch-seeds 0 1 2 3

The overrides compose the config as `python src/train.py` would; the scores are computed as the
periodic evaluation computes them (wgangp.metrics.quality.QualityScores, `--splits` splits, generators
in eval mode, z ~ N(0, I)). Writes one results record per scored set to results/<--table>/ (wgangp.results;
commit the records to keep the measurement) and re-renders the docs tables drawn from them.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import open_dict

from wgangp.build import compose_config
from wgangp.cli import entry_point
from wgangp.data.finite import TensorSource
from wgangp.experiments.comparisons import render_score_range
from wgangp.metrics.quality import QualityScores
from wgangp.results import check_table_name, checkout_docs, commit, keep_records, new_record

ROOT = Path(__file__).resolve().parents[1]


def inception_score(extractor, images: torch.Tensor, splits: int, batch_size: int = 250) -> tuple[float, float]:
    """IS mean and std over `splits` splits of `images` (N, C, H, W) in [-1, 1]."""
    scores = QualityScores(extractor, images[:2], splits=splits, sync=False)
    for start in range(0, len(images), batch_size):
        scores.update_fake(images[start : start + batch_size])
    out = scores.compute()
    return out["inception_score"], out["inception_score_std"]


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for src/train.py")
    parser.add_argument("--arch-seeds", type=int, nargs="*", default=[], help="model=random_arch: these archs")
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--table", help="the records' folder under --results (default: score_range_<data>)")
    parser.add_argument("--results", default=ROOT / "results", type=Path, help="the records' root (results/)")
    args = parser.parse_args()
    data = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("data=")), "default")
    table = check_table_name(args.table or f"score_range_{data}")
    code = commit(ROOT)
    found = []

    def keep(run: str, images: str, seed: int, scores: tuple[float, float], overrides: list[str]) -> None:
        metrics = {"val/inception_score": scores[0], "val/inception_score_std": scores[1]}
        found.append(
            new_record(
                table, run, overrides=overrides, seed=seed, iteration=0, wall_seconds=None, metrics=metrics,
                code=code, images=images, order=len(found), num_samples=args.num_samples, splits=args.splits,
            )
        )  # fmt: skip

    logging.getLogger("wgangp").setLevel(logging.ERROR)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(Path(tmp) / "run", args.overrides)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    extractor = instantiate(cfg.metrics.extractor)()
    source = datamodule.load("val")
    if isinstance(source, TensorSource):
        real = source.gather(torch.arange(min(len(source), args.num_samples)))["real"].float()
    else:
        real = source.sample(args.num_samples, torch.Generator().manual_seed(0))["real"].float()
    keep(
        "real/val",
        f"held-out real images ({len(real)})",
        0,
        inception_score(extractor, real, args.splits),
        args.overrides,
    )
    seeds = args.arch_seeds or [None]
    for k in seeds:
        if k is not None:
            with open_dict(cfg):
                cfg.model.generator.arch_seed = k
        generator = instantiate(cfg.model.generator, data_shape=datamodule.data_shape).eval()
        z = torch.randn(args.num_samples, generator.latent_dim, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            fake = torch.cat([generator(z[i : i + 250]) for i in range(0, len(z), 250)])
        label = "untrained generator" + ("" if k is None else f", arch_seed {k}")
        overrides = [*args.overrides, *([] if k is None else [f"model.generator.arch_seed={k}"])]
        keep(
            f"untrained/arch{k}", f"{label} ({len(fake)})", 1, inception_score(extractor, fake, args.splits), overrides
        )
    changed = keep_records(found, args.results, checkout_docs(args.results, ROOT))
    print(render_score_range(found))
    print(f"records in {args.results / table}/; re-rendered: " + (", ".join(changed) or "nothing changed"))


if __name__ == "__main__":
    main()
