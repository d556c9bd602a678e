"""Real samples per second each data module delivers on this machine, batch 64, 5 batches per
generator iteration (Alg. 1, n_critic = 5), on tiny generated files in the released formats.

    .venv/bin/python scripts/bench_data.py [--steps 20]

Columns: `on-device` is the training path of an in-memory set (the loader carries indices, the rows
are gathered and converted where training runs: here the CPU); `loader, W workers` draws whole
batches inside a DataLoader (gather + convert for in-memory sets, decode per index for streamed ones)
with W worker processes. LSUN, ImageNet32 and image folders are built with in_memory=true for the
first column and streamed for the others.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from wgangp.cli import entry_point
from wgangp.data.finite import DecodeSource, TensorSource
from wgangp.data.images import ImageDataModule
from wgangp.data.readers import (
    CIFAR10Reader,
    DigitsReader,
    ImageFolderReader,
    ImageNet32Reader,
    LSUNReader,
    MNISTReader,
)
from wgangp.data.stream import StepSampler, StepStream
from wgangp.data.text import TextDataModule
from wgangp.data.writers import (
    labelled_images,
    write_cifar10,
    write_image_folder,
    write_imagenet32,
    write_lmdb,
    write_mnist,
)
from wgangp.errors import UserInputError

BATCH, PER_STEP = 64, 5


def write_all(root: Path) -> dict:
    """Tiny files of each format; LSUN images at the release's typical 256 x 341, webp."""
    mnist = labelled_images(2000, 28, 28, 1)
    train, test = (mnist[0][..., 0], mnist[1]), (mnist[0][:200, ..., 0], mnist[1][:200])
    write_mnist(root / "mnist/MNIST/raw", train, test)
    write_mnist(root / "fmnist/FashionMNIST/raw", train, test)
    write_cifar10(
        root / "cifar", [labelled_images(400, 32, 32, 3, seed=i) for i in range(5)], labelled_images(200, 32, 32, 3)
    )
    write_imagenet32(
        root / "imagenet32",
        [labelled_images(200, 32, 32, 3, seed=i) for i in range(10)],
        labelled_images(200, 32, 32, 3),
    )
    # Smooth images (noise compresses unrealistically badly): gradients plus a little noise.
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 341)[None, :, None] * np.linspace(0.2, 1, 256)[:, None, None]
    scenes = np.clip(ramp + rng.normal(0, 8, (200, 256, 341, 3)), 0, 255).astype(np.uint8)
    write_lmdb(root / "lsun/bedroom_train_lmdb", scenes, "webp")
    write_image_folder(root / "imgs", scenes[:, :, :256][:200, ::2, ::2])  # 128 x 128 PNGs
    lines = [" ".join(rng.choice(["the", "a", "news", "of", "market", "said", "on", "2017"], 8)) for _ in range(5000)]
    (root / "text.txt").write_text("\n".join(lines))
    return {
        "digits": lambda **kw: ImageDataModule(DigitsReader, val_fraction=0.1, **kw),
        "mnist": lambda **kw: ImageDataModule(MNISTReader, root=str(root / "mnist"), download=False, **kw),
        "fashion_mnist": lambda **kw: ImageDataModule(
            MNISTReader,
            root=str(root / "fmnist"),
            download=False,
            dataset_class="torchvision.datasets.FashionMNIST",
            **kw,
        ),
        "cifar10": lambda **kw: ImageDataModule(CIFAR10Reader, root=str(root / "cifar"), download=False, **kw),
        "text": lambda **kw: TextDataModule(str(root / "text.txt"), **kw),
        "imagenet32": lambda **kw: ImageDataModule(ImageNet32Reader, root=str(root / "imagenet32"), **kw),
        "lsun_bedroom (64)": lambda **kw: ImageDataModule(LSUNReader, root=str(root / "lsun"), image_size=64, **kw),
        "image_folder (64)": lambda **kw: ImageDataModule(
            ImageFolderReader, root=str(root / "imgs"), image_size=64, val_fraction=0.1, **kw
        ),
    }


def set_up(datamodule):
    """prepare_data() and setup(), as wgangp.build.build calls them; returns the module."""
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def rate(batches, finish, steps: int) -> float:
    """Samples per second over `steps` generator iterations after 2 warm-up iterations."""
    for _ in range(2):
        finish(next(batches))
    t0 = time.perf_counter()
    for _ in range(steps):
        out = finish(next(batches))
    assert out["real"].shape[:2] == (PER_STEP, BATCH)
    return steps * PER_STEP * BATCH / (time.perf_counter() - t0)


def loader(source, workers: int):
    sampler = StepSampler(source, seed=0, batches=PER_STEP, batch_size=BATCH)
    return DataLoader(StepStream(sampler), batch_size=None, num_workers=workers, persistent_workers=workers > 0)


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed generator iterations per cell")
    args = parser.parse_args()
    if args.steps < 1:
        raise UserInputError(f"--steps={args.steps} is invalid: it must be at least 1.")
    torch.set_num_threads(1)  # the DataLoader workers get the other core
    kw = {"batch_size": BATCH, "batches_per_step": PER_STEP}
    print(f"samples/second, batch {BATCH} x {PER_STEP} per generator iteration, torch threads 1")
    print(f"{'data':<20}{'on-device':>12}{'loader, 0 workers':>20}{'loader, 2 workers':>20}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, make_module in write_all(Path(tmp)).items():
            make = lambda f=make_module, **kw: set_up(f(**kw))  # noqa: E731
            streamed = "lsun" in name or "imagenet" in name or "folder" in name
            memory = make(in_memory=True, **kw) if streamed else make(**kw)
            cells = [
                rate(iter(memory.train_dataloader()), lambda b, m=memory: m.on_after_batch_transfer(b, 0), args.steps)
            ]
            source = make(in_memory=False, **kw).source if streamed else memory.source
            assert isinstance(source, DecodeSource if streamed else TensorSource)
            for workers in (0, 2):
                steps = args.steps if not streamed or "imagenet" in name else max(4, args.steps // 4)
                cells.append(rate(iter(loader(source, workers)), lambda b: b, steps))
            print(f"{name:<20}" + "".join(f"{c:>{w},.0f}" for c, w in zip(cells, (12, 20, 20), strict=True)))


if __name__ == "__main__":
    main()
