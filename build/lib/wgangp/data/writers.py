"""Tiny files in the released on-disk formats, written from arrays: for tests, `scripts/bench_data.py`
and trying a data config without the real download. Images are uint8 (N, H, W, C) as numpy arrays."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def labelled_images(n: int, height: int, width: int, channels: int, classes: int = 10, seed: int = 0):
    """Random uint8 images (n, H, W, C) and labels (n,) in [0, classes), classes <= 13; pixel (0, 0) of every
    channel holds 20 * label, so a test can check that an image arrived with its own label."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, height, width, channels), dtype=np.uint8)
    labels = rng.integers(0, classes, n)
    images[:, 0, 0, :] = (20 * labels)[:, None]
    return images, labels


def write_mnist(raw: Path, train: tuple, test: tuple) -> None:
    """idx files as torchvision's MNIST-family classes read them from root/<ClassName>/raw/."""
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        n, h, w = images.shape[:3]
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, h, w) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes()
        )


def chw_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> (N, 3072): the R plane, then G, then B (CIFAR-10 and ImageNet32 rows)."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1)


def write_cifar10(
    root: Path, train: list[tuple], test: tuple, protocol: int | None = None, byte_keys: bool = False
) -> Path:
    """cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta (pickled dicts) under root.

    `protocol` is the pickle protocol (None: Python's default; the release is protocol 2) and `byte_keys`
    writes the keys as bytes (b"data", b"labels"), as the release reads with encoding="bytes"."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def key(k: str) -> str | bytes:
        return k.encode() if byte_keys else k

    for name, (images, labels) in [*((f"data_batch_{i + 1}", b) for i, b in enumerate(train)), ("test_batch", test)]:
        batch = {key("data"): chw_rows(images), key("labels"): labels.tolist(), key("batch_label"): name}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=protocol)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({key("label_names"): [f"class{i}" for i in range(10)], key("num_vis"): 3072}, f, protocol)
    return folder


def write_imagenet32(root: Path, train: list[tuple], val: tuple, fmt: str = "npz", protocol: int | None = None) -> None:
    """train_data_batch_1..len(train) and val_data as .npz (np.savez, uncompressed) or pickles (of
    `protocol`, None: Python's default); labels are written 1-based as in the release (pass 0-based labels)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, (images, labels) in [*((f"train_data_batch_{i + 1}", b) for i, b in enumerate(train)), ("val_data", val)]:
        batch = {"data": chw_rows(images), "labels": (labels + 1).tolist()}
        if fmt == "npz":
            np.savez(root / f"{name}.npz", data=batch["data"], labels=np.asarray(batch["labels"]))
        else:
            with open(root / name, "wb") as f:
                pickle.dump(batch, f, protocol=protocol)


def encode(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buf, format=fmt, lossless=True)
    return buf.getvalue()


def write_lmdb(path: Path, images: np.ndarray, fmt: str = "webp") -> None:
    """An LSUN-style LMDB: 40-hex-character keys -> encoded image bytes."""
    import hashlib

    import lmdb

    path.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(path), map_size=1 << 30)
    with env.begin(write=True) as txn:
        for i, image in enumerate(images):
            txn.put(hashlib.sha1(str(i).encode()).hexdigest().encode(), encode(image, fmt))
    env.close()


def write_image_folder(root: Path, images: np.ndarray) -> list[Path]:
    """PNGs spread over nested folders (root/a/, root/a/b/) to exercise the recursive search."""
    paths = []
    for i, image in enumerate(images):
        folder = root / ("a" if i % 2 else "a/b")
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(folder / f"{i:05d}.png")
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(paths[-1])
    return paths
