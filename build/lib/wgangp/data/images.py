"""Image data modules: `data=mnist|fashion_mnist|cifar10|lsun_bedroom|imagenet32|image_folder|digits`.

Every module yields {"real": float (N, C, H, W) in [-1, 1], "label": int64 (N,) when the data has
labels}. Small sets (digits, MNIST family, CIFAR-10) are held in memory as uint8 and sampled on the
training device; LSUN and ImageNet 32x32 are decoded per index in DataLoader workers unless
`in_memory=true` (see wgangp.data.base.GANDataModule and wgangp.data.finite).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from hydra.utils import get_class

from wgangp.data.base import GANDataModule
from wgangp.data.errors import DataError
from wgangp.data.finite import (
    DecodeSource,
    TensorSource,
    materialise,
    resize_uint8,
    split_indices,
    subset_indices,
)
from wgangp.data.formats import (
    IMAGE_SUFFIXES,
    ImageFiles,
    LMDBImages,
    RowImages,
    check_readable,
    download_timeout,
    find_batch,
    read_row_batch,
    unreadable,
)
from wgangp.data.stream import Source


def _subset(source: TensorSource, size: int | None, what: str) -> TensorSource:
    """The fixed `data.subset` of a training split (`what` names it in errors), or all of it for None."""
    index = subset_indices(len(source), size, what)
    return source if index is None else source.select(index)


class MNISTDataModule(GANDataModule):
    """MNIST-family idx files through a torchvision dataset class (`data=mnist|fashion_mnist`).

    Args:
        root: torchvision's root; the idx files live in root/<ClassName>/raw/.
        dataset_class: import path of a torchvision MNIST-style class (MNIST, FashionMNIST, KMNIST).
        image_size: side in pixels; 28 is the native size, other sizes are resized bilinearly once.
        download: fetch missing files through torchvision.
        subset: train on a fixed random subset of this many images (Sec. 5.6 uses 1000); None: all.
    The held-out split is the official 10k test set.
    """

    num_classes = 10

    def __init__(
        self,
        root: str,
        dataset_class: str = "torchvision.datasets.MNIST",
        image_size: int = 28,
        download: bool = True,
        subset: int | None = None,
        batch_size: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.root, self.dataset_class = Path(root), get_class(dataset_class)
        self.image_size, self.download, self.subset = int(image_size), bool(download), subset

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (1, self.image_size, self.image_size)

    def prepare_data(self) -> None:
        """Fetch missing idx files through torchvision when data.download is on (rank 0 only, under DDP)."""
        if self.download:
            for train in (True, False):
                self._dataset(train, download=True)

    def _dataset(self, train: bool, download: bool):
        cls = self.dataset_class
        raw = self.root / cls.__name__ / "raw"
        files = [name.removesuffix(".gz") for name, _ in cls.resources]
        try:
            with download_timeout():
                return cls(root=str(self.root), train=train, download=download)
        except Exception as err:  # torchvision raises RuntimeError / URLError (not found, download failed, bad file)
            missing = [f for f in files if not (raw / f).is_file()]
            reason = (
                f"the download failed ({str(err).strip().splitlines()[-1]})"
                if download
                else "downloading is off (data.download=false)"
            )
            if missing:
                raise DataError(
                    f"{cls.__name__} files are missing under {raw}: expected {', '.join(files)} (torchvision's layout "
                    f"data.root/{cls.__name__}/raw/), missing {', '.join(missing)}, and {reason}. Get them by running "
                    f"once with data.download=true on a machine with internet access, or copy the uncompressed idx "
                    f"files from {cls.mirrors[0]} into {raw}."
                ) from err
            raise DataError(
                f"the {cls.__name__} idx files under {raw} could not be read ({type(err).__name__}: {err}); one is "
                f"truncated or corrupt. Expected {', '.join(files)}; delete the damaged file and fetch it again "
                f"(data.download=true) or copy an intact one from {cls.mirrors[0]}."
            ) from err

    def load(self, split: str) -> Source:
        ds = self._dataset(split == "train", download=False)  # prepare_data fetched what was missing
        images = resize_uint8(ds.data.unsqueeze(1), self.image_size)  # (N, 28, 28) -> (N, 1, S, S) uint8
        source = TensorSource(images, ds.targets.to(torch.int64))
        return (
            _subset(source, self.subset, f"the {self.dataset_class.__name__} training split")
            if split == "train"
            else source
        )


class CIFAR10DataModule(GANDataModule):
    """CIFAR-10's python batches (`data=cifar10`): root/cifar-10-batches-py/data_batch_1..5, test_batch.

    Downloaded through torchvision's URL and checksum when missing; the batches themselves are read
    without torchvision's md5 check so any intact copy loads. The held-out split is test_batch.
    """

    FOLDER = "cifar-10-batches-py"
    TRAIN = [f"data_batch_{i}" for i in range(1, 6)]

    num_classes = 10

    def __init__(
        self,
        root: str,
        image_size: int = 32,
        download: bool = True,
        subset: int | None = None,
        batch_size: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.root, self.image_size, self.download, self.subset = Path(root), int(image_size), bool(download), subset

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (3, self.image_size, self.image_size)

    def _how(self) -> str:
        from torchvision.datasets import CIFAR10

        return (
            f"Get the release with data.download=true on a machine with internet access, or download "
            f"{CIFAR10.url} and unpack it into {self.root} (or point data.root=... at the folder holding "
            f"{self.FOLDER}/)."
        )

    def prepare_data(self) -> None:
        """Fetch and unpack the release when files are missing and data.download is on (rank 0 only)."""
        from torchvision.datasets import CIFAR10
        from torchvision.datasets.utils import download_and_extract_archive

        folder = self.root / self.FOLDER
        for path in (self.root, folder):  # an unreadable folder is not a missing one (nor a reason to download)
            check_readable(path, self._how())
        if not self.download or all((folder / n).is_file() for n in [*self.TRAIN, "test_batch"]):
            return
        try:
            with download_timeout():
                download_and_extract_archive(
                    CIFAR10.url, str(self.root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5
                )
        except Exception as err:
            reason = f"{type(err).__name__}: {str(err).strip().splitlines()[-1]}"
            raise DataError(
                f"CIFAR-10 is missing under {folder} (expected {', '.join(self.TRAIN)}, test_batch and "
                f"batches.meta) and the download failed ({reason}). {self._how()}"
            ) from err

    def load(self, split: str) -> Source:
        folder = self.root / self.FOLDER
        names = self.TRAIN if split == "train" else ["test_batch"]
        for path in (self.root, folder):  # an unreadable folder is not a missing one
            check_readable(path, self._how())
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise DataError(
                f"CIFAR-10 files are missing under {folder}: expected {', '.join(self.TRAIN)}, test_batch and "
                f"batches.meta, missing {', '.join(missing)}. {self._how()}"
            )
        images, labels = RowImages([read_row_batch(folder / n, "CIFAR-10", self._how()) for n in names]).tensors()
        source = TensorSource(resize_uint8(images, self.image_size), labels)
        return _subset(source, self.subset, "the CIFAR-10 training split") if split == "train" else source


class LSUNDataModule(GANDataModule):
    """An LSUN scene category in the release's LMDB format (`data=lsun_bedroom`).

    Expects root/<category>_train_lmdb/ and, for the held-out split, root/<category>_val_lmdb/
    (each holding data.mdb). Images are centre-cropped to a square, then resized to `image_size`
    (the paper: 64; 128 also used), and decoded per index in DataLoader workers unless `in_memory`.
    """

    def __init__(
        self,
        root: str,
        category: str = "bedroom",
        image_size: int = 64,
        in_memory: bool = False,
        batch_size: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.root, self.category = Path(root), category
        self.image_size, self.in_memory = int(image_size), bool(in_memory)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (3, self.image_size, self.image_size)

    def load(self, split: str) -> Source:
        path = self.root / f"{self.category}_{split}_lmdb"
        how = (
            f"Get it with the LSUN download script (github.com/fyu/lsun: `python download.py -c {self.category}`) "
            f"and unzip {path.name}.zip into {self.root}."
        )
        if not (path / "data.mdb").is_file():
            raise DataError(
                f"LSUN {self.category} ({split}) not found: expected the LMDB directory {path} holding data.mdb. {how}"
            )
        images = LMDBImages(path, self.image_size, how)
        return materialise(images) if self.in_memory else DecodeSource(images)


class ImageNet32DataModule(GANDataModule):
    """Downsampled ImageNet 32x32 (`data=imagenet32`), the official release's batches in root:
    train_data_batch_1..10 and val_data, pickled or .npz, each a dict with 'data' (uint8 rows of
    3072 CHW values) and 'labels' (1..1000, returned 0-based). Streamed per index through DataLoader
    workers (uncompressed .npz are memory-mapped) unless `in_memory`."""

    TRAIN = [f"train_data_batch_{i}" for i in range(1, 11)]

    num_classes = 1000

    def __init__(self, root: str, in_memory: bool = False, batch_size: int = 64, **kwargs) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.root, self.in_memory = Path(root), bool(in_memory)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (3, 32, 32)

    def load(self, split: str) -> Source:
        names = self.TRAIN if split == "train" else ["val_data"]
        how = (
            f"Get Imagenet32_train_npz.zip and Imagenet32_val_npz.zip (or the pickled Imagenet32_train.zip / "
            f"Imagenet32_val.zip) from https://image-net.org/download-images (login required) and unzip them "
            f"into {self.root}."
        )
        paths = {n: find_batch(self.root, n) for n in names}
        missing = [n for n, p in paths.items() if p is None]
        if missing:
            raise DataError(
                f"ImageNet 32x32 batches are missing under {self.root}: expected {names[0]}"
                f"{'..' + names[-1][len('train_data_batch_') :] if len(names) > 1 else ''} (pickled, or with .npz), "
                f"missing {', '.join(missing)}. {how}"
            )
        batches = []
        for path in paths.values():
            data, labels = read_row_batch(path, "ImageNet 32x32", how)
            if labels.min() < 1 or labels.max() > 1000:
                raise DataError(
                    f"{path} has labels outside 1..1000 (found {labels.min()}..{labels.max()}); the "
                    f"ImageNet 32x32 release numbers classes from 1. {how}"
                )
            batches.append((data, labels - 1))  # 0-based class index
        rows = RowImages(batches)
        return TensorSource(*rows.tensors()) if self.in_memory else DecodeSource(rows)


class ImageFolderDataModule(GANDataModule):
    """Every image under `root`, recursively (`data=image_folder`): centre crop, then resize to
    `image_size`; `channels` 3 (RGB) or 1 (grey). No labels. A fixed `val_fraction` of the files is
    held out. Decoded per index in DataLoader workers unless `in_memory` (faster for small folders)."""

    def __init__(
        self,
        root: str,
        image_size: int = 64,
        channels: int = 3,
        in_memory: bool = False,
        val_fraction: float = 0.1,
        batch_size: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.root, self.image_size, self.channels = Path(root), int(image_size), int(channels)
        self.in_memory, self.val_fraction = bool(in_memory), float(val_fraction)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (self.channels, self.image_size, self.image_size)

    def load(self, split: str) -> Source:
        how = "Point data.root at a folder of images."
        check_readable(self.root, how)
        if self.root.is_file():
            raise DataError(
                f"data.root={self.root} is a file, not a folder: expected a folder with image files "
                f"({', '.join(IMAGE_SUFFIXES)}) anywhere below it. {how}"
            )
        files = self._image_files(how) if self.root.is_dir() else []
        if not files:
            state = "is empty of images" if self.root.is_dir() else "does not exist"
            raise DataError(
                f"the image folder {self.root} {state}: expected image files ({', '.join(IMAGE_SUFFIXES)}) anywhere "
                f"below it. Point data.root at a folder of images."
            )
        train, val = split_indices(len(files), self.val_fraction)
        index = train if split == "train" else val
        if len(index) == 0:
            raise DataError(
                f"the image folder {self.root} has {len(files)} images, too few to hold out "
                f"val_fraction={self.val_fraction} of them; add images or raise data.val_fraction."
            )
        images = ImageFiles([files[i] for i in index.tolist()], self.image_size, self.channels)
        return materialise(images) if self.in_memory else DecodeSource(images)

    def _image_files(self, how: str) -> list[Path]:
        """Every image file below root, sorted; a subfolder that cannot be listed is a DataError (Path.rglob
        skips it silently, and the run would train on part of the folder)."""
        errors: list[OSError] = []
        files = [
            Path(d) / f
            for d, _, names in os.walk(self.root, onerror=errors.append)
            for f in names
            if Path(f).suffix.lower() in IMAGE_SUFFIXES
        ]
        if errors:
            raise unreadable(Path(errors[0].filename), errors[0], how) from errors[0]
        return sorted(p for p in files if p.is_file())


class DigitsDataModule(GANDataModule):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 0-9; no download): a tiny real
    image set for CPU demos (`data=digits`). The 17 grey levels are scaled to [0, 255] and the images
    upsampled bilinearly to `image_size` (default 32); a fixed `val_fraction` is held out."""

    num_classes = 10

    def __init__(
        self, image_size: int = 32, val_fraction: float = 0.1, subset: int | None = None, batch_size: int = 64, **kwargs
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.image_size, self.val_fraction, self.subset = int(image_size), float(val_fraction), subset

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (1, self.image_size, self.image_size)

    def load(self, split: str) -> Source:
        from sklearn.datasets import load_digits

        digits = load_digits()
        grey = np.rint(digits.images * (255 / 16)).astype(np.uint8)  # (1797, 8, 8), levels 0..16
        images = resize_uint8(torch.from_numpy(grey).unsqueeze(1), self.image_size)  # (1797, 1, S, S)
        train, val = split_indices(len(images), self.val_fraction)
        source = TensorSource(images, torch.from_numpy(digits.target).to(torch.int64))
        return (
            _subset(source.select(train), self.subset, "the digits training split")
            if split == "train"
            else source.select(val)
        )
