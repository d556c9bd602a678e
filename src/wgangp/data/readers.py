"""One reader per on-disk image format: where its files go, how they are checked, how they are read.

A reader is built from its data config's own fields (root, image_size, download, ...: see
wgangp.data.images.ImageDataModule) and returns a split's images: uint8 (N, C, H, W) with int64 labels held in
memory (a TensorSource: the MNIST family, CIFAR-10, digits) or an IndexedImages decoded per index (LSUN,
ImageNet 32x32, image folders). Each DataError it raises ends with its own "which file to put where". The
held-out split, the subset and the batches are the data module's, the same for every format.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from hydra.utils import get_class

from wgangp.data.errors import DataError
from wgangp.data.finite import IndexedImages, TensorSource, resize_uint8
from wgangp.data.formats import (
    IMAGE_SUFFIXES,
    ImageFiles,
    LMDBImages,
    RowImages,
    check_readable,
    download_timeout,
    read_row_batch,
    unreadable,
)


class Reader:
    """The part of an image data set that depends on its files.

    Subclasses set `name` (the data in messages: "data.subset=... is larger than the CIFAR-10 training split"),
    `shape` (C, H, W) from their arguments alone (no reading), `num_classes` (None: unlabelled) and `held_out`
    (whether the release has its own held-out files), and implement `read`.
    """

    name: str
    shape: tuple[int, int, int]
    num_classes: int | None = None
    held_out: bool = True

    def prepare(self) -> None:
        """Fetch missing files when data.download is on (rank 0 only, under DDP); most formats have no download."""

    def read(self, split: str) -> TensorSource | IndexedImages:
        """The images of `split`: "train" (every image, for a format without held-out files) or "val" (the
        held-out files). Unusable files raise a DataError naming the path, what was expected and how to get it."""
        raise NotImplementedError


def missing_files(name: str, folder: Path, expected: str, missing: list[str], how: str, reason: str = "") -> DataError:
    """The DataError for files that are not where the format expects them; `reason` says why they were not fetched."""
    return DataError(
        f"{name} files are missing under {folder}: expected {expected}, missing {', '.join(missing)}{reason}. {how}"
    )


class MNISTReader(Reader):
    """MNIST-family idx files through a torchvision dataset class (`data=mnist|fashion_mnist`), in
    root/<ClassName>/raw/ (torchvision's layout); the held-out split is the official 10k test set.

    Args:
        root: torchvision's root.
        dataset_class: import path of a torchvision MNIST-style class (MNIST, FashionMNIST, KMNIST).
        image_size: side in pixels; 28 is the native size, other sizes are resized bilinearly once.
        download: fetch missing files through torchvision.
    """

    num_classes = 10

    def __init__(
        self, root: str, dataset_class: str = "torchvision.datasets.MNIST", image_size: int = 28, download: bool = True
    ) -> None:
        self.root, self.dataset_class = Path(root), get_class(dataset_class)
        self.image_size, self.download = int(image_size), bool(download)
        self.name = self.dataset_class.__name__
        self.raw = self.root / self.name / "raw"

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1, self.image_size, self.image_size)

    def prepare(self) -> None:
        if self.download:
            for train in (True, False):
                self._dataset(train, download=True)

    def read(self, split: str) -> TensorSource:
        ds = self._dataset(split == "train", download=False)  # prepare() fetched what was missing
        images = resize_uint8(ds.data.unsqueeze(1), self.image_size)  # (N, 28, 28) -> (N, 1, S, S) uint8
        return TensorSource(images, ds.targets.to(torch.int64))

    def _dataset(self, train: bool, download: bool):
        cls = self.dataset_class
        files = [name.removesuffix(".gz") for name, _ in cls.resources]
        try:
            with download_timeout():
                return cls(root=str(self.root), train=train, download=download)
        except Exception as err:  # torchvision raises RuntimeError / URLError (not found, download failed, bad file)
            missing = [f for f in files if not (self.raw / f).is_file()]
            if missing:
                reason = (
                    f"the download failed ({str(err).strip().splitlines()[-1]})"
                    if download
                    else "downloading is off (data.download=false)"
                )
                raise missing_files(
                    self.name,
                    self.raw,
                    f"{', '.join(files)} (torchvision's layout data.root/{self.name}/raw/)",
                    missing,
                    f"Get them by running once with data.download=true on a machine with internet access, or copy "
                    f"the uncompressed idx files from {cls.mirrors[0]} into {self.raw}.",
                    f", and {reason}",
                ) from err
            raise DataError(
                f"the {self.name} idx files under {self.raw} could not be read ({type(err).__name__}: {err}); one is "
                f"truncated or corrupt. Expected {', '.join(files)}; delete the damaged file and fetch it again "
                f"(data.download=true) or copy an intact one from {cls.mirrors[0]}."
            ) from err


class CIFAR10Reader(Reader):
    """CIFAR-10's python batches (`data=cifar10`): root/cifar-10-batches-py/data_batch_1..5, and test_batch held out.

    Downloaded through torchvision's URL and checksum when missing; the batches themselves are read without
    torchvision's md5 check, so any intact copy loads, and through the restricted unpickler (wgangp.data.formats).
    """

    FOLDER = "cifar-10-batches-py"
    TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
    EXPECTED = f"{', '.join(TRAIN)}, test_batch and batches.meta"

    name = "CIFAR-10"
    num_classes = 10

    def __init__(self, root: str, image_size: int = 32, download: bool = True) -> None:
        self.root, self.image_size, self.download = Path(root), int(image_size), bool(download)
        self.folder = self.root / self.FOLDER

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    @property
    def how(self) -> str:
        from torchvision.datasets import CIFAR10

        return (
            f"Get the release with data.download=true on a machine with internet access, or download "
            f"{CIFAR10.url} and unpack it into {self.root} (or point data.root=... at the folder holding "
            f"{self.FOLDER}/)."
        )

    def _missing(self, names: list[str]) -> list[str]:
        for path in (self.root, self.folder):  # an unreadable folder is not a missing one (nor a reason to download)
            check_readable(path, self.how)
        return [n for n in names if not (self.folder / n).is_file()]

    def prepare(self) -> None:
        # Imported here, not at the top: torchvision is slow to import and only a download needs it.
        from torchvision.datasets import CIFAR10
        from torchvision.datasets.utils import download_and_extract_archive

        missing = self._missing([*self.TRAIN, "test_batch"])
        if not self.download or not missing:
            return
        try:
            with download_timeout():
                download_and_extract_archive(
                    CIFAR10.url, str(self.root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5
                )
        except Exception as err:
            reason = f", and the download failed ({type(err).__name__}: {str(err).strip().splitlines()[-1]})"
            raise missing_files(self.name, self.folder, self.EXPECTED, missing, self.how, reason) from err

    def read(self, split: str) -> TensorSource:
        names = self.TRAIN if split == "train" else ["test_batch"]
        missing = self._missing(names)
        if missing:
            raise missing_files(self.name, self.folder, self.EXPECTED, missing, self.how)
        batches = [read_row_batch(self.folder / n, self.name, self.how) for n in names]
        images = torch.from_numpy(np.concatenate([data for data, _ in batches])).view(-1, 3, 32, 32)  # CHW rows
        labels = torch.from_numpy(np.concatenate([batch_labels for _, batch_labels in batches]))
        return TensorSource(resize_uint8(images, self.image_size), labels)


class LSUNReader(Reader):
    """An LSUN scene category in the release's LMDB format (`data=lsun_bedroom`): root/<category>_train_lmdb/
    and, held out, root/<category>_val_lmdb/ (each holding data.mdb). Images are centre-cropped to a square,
    then resized to `image_size` (the paper: 64; 128 also used), when decoded. No labels."""

    def __init__(self, root: str, category: str = "bedroom", image_size: int = 64) -> None:
        self.root, self.category, self.image_size = Path(root), category, int(image_size)
        self.name = f"LSUN {category}"

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    def read(self, split: str) -> LMDBImages:
        path = self.root / f"{self.category}_{split}_lmdb"
        how = (
            f"Get it with the LSUN download script (github.com/fyu/lsun: `python download.py -c {self.category}`) "
            f"and unzip {path.name}.zip into {self.root}."
        )
        if not (path / "data.mdb").is_file():
            raise DataError(
                f"{self.name} ({split}) not found: expected the LMDB directory {path} holding data.mdb. {how}"
            )
        return LMDBImages(path, self.image_size, how)


class ImageNet32Reader(Reader):
    """Downsampled ImageNet 32x32 (`data=imagenet32`), the official release's batches in root:
    train_data_batch_1..10 and, held out, val_data, pickled or .npz, each a dict with 'data' (uint8 rows of
    3072 CHW values) and 'labels' (1..1000, returned 0-based). Read per index (uncompressed .npz are
    memory-mapped, so DataLoader workers read only the rows they draw)."""

    TRAIN = [f"train_data_batch_{i}" for i in range(1, 11)]

    name = "ImageNet 32x32"
    shape = (3, 32, 32)
    num_classes = 1000

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def read(self, split: str) -> RowImages:
        names = self.TRAIN if split == "train" else ["val_data"]
        how = (
            f"Get Imagenet32_train_npz.zip and Imagenet32_val_npz.zip (or the pickled Imagenet32_train.zip / "
            f"Imagenet32_val.zip) from https://image-net.org/download-images (login required) and unzip them "
            f"into {self.root}."
        )
        # The release ships each batch pickled (no suffix) and as .npz.
        found = {n: [p for p in (self.root / n, self.root / f"{n}.npz") if p.is_file()] for n in names}
        missing = [n for n, paths in found.items() if not paths]
        if missing:
            expected = f"{names[0]}{f'..{len(names)}' if len(names) > 1 else ''} (pickled, or with .npz)"
            raise missing_files(self.name, self.root, expected, missing, how)
        batches = []
        for paths in found.values():
            data, labels = read_row_batch(paths[0], self.name, how)
            if labels.min() < 1 or labels.max() > 1000:
                raise DataError(
                    f"{paths[0]} has labels outside 1..1000 (found {labels.min()}..{labels.max()}); the "
                    f"{self.name} release numbers classes from 1. {how}"
                )
            batches.append((data, labels - 1))  # 0-based class index
        return RowImages(batches)


class ImageFolderReader(Reader):
    """Every image under `root`, recursively, in path order (`data=image_folder`): centre crop, then resize to
    `image_size`; `channels` 3 (RGB) or 1 (grey). No labels, and no held-out files (data.val_fraction)."""

    name = "image folder"
    held_out = False
    HOW = "Point data.root at a folder of images."

    def __init__(self, root: str, image_size: int = 64, channels: int = 3) -> None:
        self.root, self.image_size, self.channels = Path(root), int(image_size), int(channels)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def read(self, split: str) -> ImageFiles:
        check_readable(self.root, self.HOW)
        if self.root.is_file():
            raise DataError(
                f"data.root={self.root} is a file, not a folder: expected a folder with image files "
                f"({', '.join(IMAGE_SUFFIXES)}) anywhere below it. {self.HOW}"
            )
        files = self._image_files() if self.root.is_dir() else []
        if not files:
            state = "is empty of images" if self.root.is_dir() else "does not exist"
            raise DataError(
                f"the image folder {self.root} {state}: expected image files ({', '.join(IMAGE_SUFFIXES)}) anywhere "
                f"below it. {self.HOW}"
            )
        return ImageFiles(files, self.image_size, self.channels)

    def _image_files(self) -> list[Path]:
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
            raise unreadable(Path(errors[0].filename), errors[0], self.HOW) from errors[0]
        return sorted(p for p in files if p.is_file())


class DigitsReader(Reader):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 0-9; no download): a tiny real image set for
    CPU demos (`data=digits`). The 17 grey levels are scaled to [0, 255] and the images upsampled bilinearly to
    `image_size` (default 32). No held-out files (data.val_fraction)."""

    name = "digits"
    num_classes = 10
    held_out = False

    def __init__(self, image_size: int = 32) -> None:
        self.image_size = int(image_size)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1, self.image_size, self.image_size)

    def read(self, split: str) -> TensorSource:
        from sklearn.datasets import load_digits  # scikit-learn is slow to import; only digits needs it

        digits = load_digits()
        grey = np.rint(digits.images * (255 / 16)).astype(np.uint8)  # (1797, 8, 8), levels 0..16
        images = resize_uint8(torch.from_numpy(grey).unsqueeze(1), self.image_size)  # (1797, 1, S, S)
        return TensorSource(images, torch.from_numpy(digits.target).to(torch.int64))
