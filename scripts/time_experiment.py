"""Seconds per generator iteration of an experiment on this machine, and the projected time of its full run.

    .venv/bin/python scripts/time_experiment.py                       # experiment=cifar10_resnet, 300 iterations
    .venv/bin/python scripts/time_experiment.py --iters 2 --warmup 1 --max-hours 1
    .venv/bin/python scripts/time_experiment.py --experiment none model=dcgan data=cifar10   # any config

Writes a small CIFAR-10-format data set on the spot (wgangp.data.writers, the released python batches;
random pixels: speed does not depend on what the images show) into a temporary folder, points data.root
at it, and trains `--iters` generator iterations of the experiment as `python src/train.py` would (its
Trainer, precision, data loader and logger) with evaluation and checkpoints off. The first `--warmup`
iterations (kernel selection, cudnn autotuning) are not timed. The projection is seconds per iteration
times the experiment's own generator_iters (Table 3, App. F: 100K) or --target-iters; evaluation and
checkpoint time are not in it. --max-hours H makes the exit status 1 when the projection exceeds H.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from omegaconf import open_dict

from wgangp.build import compose_config
from wgangp.callbacks.timing import projected_hours
from wgangp.cli import entry_point
from wgangp.data.writers import labelled_images, write_cifar10
from wgangp.errors import UserInputError
from wgangp.train import train


def write_cifar_like(root: Path, images: int) -> Path:
    """`images` training images in CIFAR-10's on-disk format (5 data batches) and a tenth as many test ones."""
    per_batch = max(1, images // 5)
    write_cifar10(
        root,
        [labelled_images(per_batch, 32, 32, 3, seed=i) for i in range(5)],
        labelled_images(max(1, images // 10), 32, 32, 3, seed=9),
    )
    return root


def timing_overrides(experiment: str, data_root: Path, timing_file: Path, warmup: int) -> list[str]:
    """Hydra overrides: the experiment on the written data, the timer on, evaluation and checkpoints off."""
    chosen = [] if experiment in ("", "none") else [f"experiment={experiment}"]
    return [
        *chosen,
        f"data.root={data_root}",
        "data.download=false",
        "callbacks.evaluation=null",  # the timed iterations are training alone, as the projection says
        "callbacks.checkpoint=null",
        "callbacks.progress.refresh_rate=0",
        "+callbacks.timing._target_=wgangp.callbacks.timing.IterationTimer",
        f"+callbacks.timing.out_file={timing_file}",
        f"+callbacks.timing.warmup_iters={warmup}",
    ]


def summary(timing: dict, target_iters: int, max_hours: float | None) -> tuple[str, bool]:
    """The printed lines and whether the projection is within `max_hours` (always, when None)."""
    hours = projected_hours(timing["seconds_per_iter"], target_iters)
    ok = max_hours is None or hours <= max_hours
    lines = [
        f"{timing['seconds_per_iter']:.4f} s per generator iteration ({timing['timed_iters']} timed after "
        f"{timing['warmup_iters']} warm-up, {timing['device']})",
        f"projected {target_iters} generator iterations: {hours:.2f} h ({hours * 60:.0f} min), training only",
    ]
    if max_hours is not None:
        lines.append(f"target {max_hours:g} h: {'met' if ok else 'MISSED'}")
    return "\n".join(lines), ok


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides, e.g. trainer.precision=32-true")
    parser.add_argument("--experiment", default="cifar10_resnet", help="conf/experiment/ name, or none")
    parser.add_argument("--iters", type=int, default=300, help="generator iterations trained")
    parser.add_argument("--warmup", type=int, default=50, help="of those, the first ones not timed")
    parser.add_argument("--target-iters", type=int, default=None, help="default: the experiment's generator_iters")
    parser.add_argument("--images", type=int, default=5000, help="CIFAR-format training images written")
    parser.add_argument("--max-hours", type=float, default=None, help="exit 1 when the projection exceeds this")
    parser.add_argument("--json", help="also write the timing and projection here")
    args = parser.parse_args()
    if not 0 <= args.warmup < args.iters or args.images < 5 or (args.target_iters or 1) < 1:
        raise UserInputError(
            f"--iters {args.iters}, --warmup {args.warmup}, --images {args.images}, --target-iters "
            f"{args.target_iters}: need 0 <= warmup < iters (at least one timed iteration), images >= 5, "
            "target-iters >= 1."
        )
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data_root = write_cifar_like(tmp / "cifar10", args.images)
        timing_file = tmp / "timing.json"
        cfg = compose_config(
            tmp / "run", [*timing_overrides(args.experiment, data_root, timing_file, args.warmup), *args.overrides]
        )
        target = args.target_iters or int(cfg.generator_iters)
        with open_dict(cfg):
            cfg.generator_iters = args.iters
        train(cfg)
        timing = json.loads(timing_file.read_text())
    text, ok = summary(timing, target, args.max_hours)
    print(text)
    if args.json:
        hours = projected_hours(timing["seconds_per_iter"], target)
        Path(args.json).write_text(json.dumps({**timing, "target_iters": target, "projected_hours": hours}) + "\n")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
