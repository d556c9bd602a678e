"""Finite data sets as `Source`s: held in memory (sampled on the training device) or decoded per index.

Both draw indices uniformly *with replacement*, one independent draw per batch element, from the
step's generator: a batch of m from N rows repeats a row with probability about m^2 / 2N (CIFAR-10,
m = 64: 4%). This keeps the stream keyed by (seed, step) alone, so resume and DataLoader workers stay
exact without an epoch permutation to checkpoint.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from wgangp.data.errors import DataError


def uint8_to_unit(x: Tensor) -> Tensor:
    """uint8 pixels [0, 255] -> float32 [-1, 1] (the generator's tanh range)."""
    return x.float().div_(127.5).sub_(1.0)


def resize_uint8(images: Tensor, size: int, chunk: int = 8192) -> Tensor:
    """Square uint8 images (N, C, H, W) -> (N, C, size, size), bilinear (antialiased when shrinking)."""
    if images.shape[-2:] == (size, size):
        return images
    out = []
    for part in images.split(chunk):  # bounds the float copy: chunk x C x H x W x 4 bytes
        x = F.interpolate(
            part.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=size < images.shape[-1]
        )
        out.append(x.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


def decode_image(data: bytes | Image.Image, size: int, channels: int = 3) -> Tensor:
    """Encoded image bytes (webp/jpeg/png/...) or a PIL image -> uint8 (channels, size, size):
    centre crop to a square on the shorter side, then resize (bicubic, antialiased when shrinking)."""
    img = data if isinstance(data, Image.Image) else Image.open(io.BytesIO(data))
    img = img.convert("RGB" if channels == 3 else "L")
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    img = img.crop((left, top, left + s, top + s))
    if s != size:
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    array = np.asarray(img, dtype=np.uint8).reshape(size, size, channels)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()  # HWC -> CHW


class IndexedImages(Protocol):
    """A map-style data set: `len`, and `[i]` -> (uint8 image (C, H, W), integer label or None)."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> tuple[Tensor, int | None]: ...


@dataclass
class TensorSource:
    """A finite data set held in memory, stored compactly and converted per batch.

    `real` is uint8 images (N, C, H, W) or integer character ids (N, L); `label` is int64 (N,) when
    the data has labels; `decode` turns stored rows into the training representation (float images in
    [-1, 1], or one-hot text). Row i of `real` and of `label` always travel together.
    """

    real: Tensor
    label: Tensor | None = None
    decode: Callable[[Tensor], Tensor] = uint8_to_unit

    def __len__(self) -> int:
        return self.real.size(0)

    def gather(self, index: Tensor) -> dict[str, Tensor]:
        """Rows `index` (any shape S) -> {"real": (*S, *data_shape), "label": (*S,)}."""
        out = {"real": self.decode(self.real[index])}
        if self.label is not None:
            out["label"] = self.label[index]
        return out

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        return self.gather(torch.randint(len(self), (n,), generator=generator))

    def select(self, index: Tensor) -> TensorSource:
        """The sub-data-set of rows `index` (a split or a subset)."""
        return replace(self, real=self.real[index], label=None if self.label is None else self.label[index])

    def to(self, device: torch.device | str) -> TensorSource:
        return replace(self, real=self.real.to(device), label=None if self.label is None else self.label.to(device))


@dataclass
class IndexSource:
    """Only the indices of a TensorSource's draw: {"index": (n,) int64}. The training loader carries
    these; the rows are gathered on the training device after transfer (GANDataModule)."""

    size: int

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        return {"index": torch.randint(self.size, (n,), generator=generator)}


@dataclass
class DecodeSource:
    """A finite data set decoded per drawn index wherever `sample` runs: during training, in the
    DataLoader workers (each worker builds whole generator iterations, see stream.StepStream)."""

    dataset: IndexedImages
    decode: Callable[[Tensor], Tensor] = uint8_to_unit  # uint8 images -> the training representation

    def __len__(self) -> int:
        return len(self.dataset)

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        index = torch.randint(len(self.dataset), (n,), generator=generator)
        items = [self.dataset[i] for i in index.tolist()]
        out = {"real": self.decode(torch.stack([image for image, _ in items]))}  # (n, C, H, W)
        if items[0][1] is not None:
            out["label"] = torch.tensor([label for _, label in items], dtype=torch.int64)
        return out


@dataclass
class Rows:
    """Rows `index` of a data set decoded per index (a split or a subset): row i is dataset[index[i]]."""

    dataset: IndexedImages
    index: Tensor

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[Tensor, int | None]:
        return self.dataset[int(self.index[i])]


def select(images: TensorSource | IndexedImages, index: Tensor) -> TensorSource | IndexedImages:
    """Rows `index` of a data set held in memory or decoded per index, in that order."""
    return images.select(index) if isinstance(images, TensorSource) else Rows(images, index)


def materialise(dataset: IndexedImages) -> TensorSource:
    """Decode every item once into a TensorSource (uint8 (N, C, H, W), int64 labels), written into one
    preallocated tensor: the peak is the data set plus one image (an in-memory ImageNet 32x32 is 3.9 GB)."""
    first, _ = dataset[0]
    real = torch.empty((len(dataset), *first.shape), dtype=first.dtype)
    labels = []
    for i in range(len(dataset)):
        image, label = dataset[i]
        real[i] = image
        labels.append(label)
    return TensorSource(real, None if labels[0] is None else torch.tensor(labels, dtype=torch.int64))


def split_indices(n: int, val_fraction: float) -> tuple[Tensor, Tensor]:
    """A fixed train/val split of n rows for data without an official one: a permutation seeded with
    0, not the run seed, so every run of an experiment validates on the same held-out rows."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction} must be in [0, 1)")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    n_val = min(n - 1, round(n * val_fraction)) if val_fraction > 0 else 0
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def subset_indices(n: int, size: int | None, what: str = "the training split") -> Tensor | None:
    """A fixed random subset of `size` of n rows (paper Sec. 5.6: a 1000-image MNIST subset), seeded
    with 1 so it is the same in every run; None keeps all rows. A size that is not a whole number in
    1..n is a DataError naming data.subset and `what` (the split it draws from)."""
    if size is None:
        return None
    whole = isinstance(size, (int, np.integer)) and not isinstance(size, bool)
    if whole and size > n:
        raise DataError(
            f"data.subset={size} is larger than {what}, which holds {n} images; the subset is drawn from them "
            f"without repeats. Lower data.subset to at most {n}, or set data.subset=null to train on all {n}."
        )
    if not whole or size < 1:
        raise DataError(
            f"data.subset={size!r} is not a number of images: set it to a whole number from 1 to {n} (the size "
            f"of {what}), or to null to train on all of them."
        )
    return torch.randperm(n, generator=torch.Generator().manual_seed(1))[:size].sort().values
