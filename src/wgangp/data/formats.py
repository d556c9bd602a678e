"""Parsers of the released on-disk formats; each raises DataError naming the path on bad input.

CIFAR-10 python batches and downsampled ImageNet 32x32 batches are read here (numpy/pickle, no md5
check, so copies made by other tools load too; pickles through an unpickler that admits only numpy arrays and
plain containers, so a crafted batch cannot run code); MNIST-family idx files are read by torchvision; LSUN
LMDBs and image folders are decoded per index by the classes below. Which files a data set needs, and where,
is its reader's (wgangp.data.readers).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from wgangp.data.errors import DataError
from wgangp.data.finite import decode_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@contextlib.contextmanager
def download_timeout(seconds: float = 60.0) -> Iterator[None]:
    """torchvision downloads through urllib without a timeout; a stalled connection would hang."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def read_error(path: Path) -> OSError | None:
    """The OSError that reading `path` (a file, or listing a folder) raises, e.g. permission denied; None
    when it reads. Path.is_file() and is_dir() answer False for what they cannot stat, so call this first."""
    try:
        if path.is_dir():
            os.listdir(path)
        else:
            with open(path, "rb"):
                pass
    except OSError as err:
        return err
    return None


def unreadable(path: Path, err: OSError, how: str = "") -> DataError:
    """The DataError for a file or folder that exists but cannot be read."""
    return DataError(
        f"{path} cannot be read ({err.strerror or type(err).__name__}): give the user running this read access "
        f"(e.g. chmod -R u+rX {path}) or point the data config at a readable copy. {how}".rstrip()
    )


def check_readable(path: Path, how: str = "") -> None:
    """Raise DataError when `path` exists (or its parent is unreadable) but cannot be read."""
    err = read_error(path)
    if err is not None and not isinstance(err, FileNotFoundError):
        raise unreadable(path, err, how) from err


def _numpy_global(module: str, name: str) -> object:
    """numpy's `name` from numpy._core.<module> (numpy 2) or numpy.core.<module> (numpy 1), imported quietly."""
    import importlib

    for package in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{package}.{module}"), name)
        except (ImportError, AttributeError):
            continue
    raise AttributeError(f"numpy has no {module}.{name}")


#: What a pickled batch may name: numpy's array and scalar reconstruction (pickles of numpy 1 name numpy.core,
#: of numpy 2 numpy._core; protocol 5 writes arrays through _frombuffer) and, for Python 3 pickles of
#: protocol < 3, _codecs.encode (how they spell bytes). Dicts, lists, str, bytes and numbers need no global.
_BATCH_GLOBALS = {
    **{
        (f"{package}.{module}", name): (module, name)
        for package in ("numpy.core", "numpy._core")
        for module, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))
    },
    ("numpy", "ndarray"): None,
    ("numpy", "dtype"): None,
    ("_codecs", "encode"): None,
}


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global outside _BATCH_GLOBALS (what an object that runs code when read needs)."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"refused global {module}.{name}")
        self.qualname = f"{module}.{name}"


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: any other global (os.system, subprocess.Popen,
    builtins.eval, a class with a __reduce__ payload) raises RefusedGlobal before anything is called."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _BATCH_GLOBALS:
            raise RefusedGlobal(module, name)
        target = _BATCH_GLOBALS[(module, name)]
        if target is not None:
            return _numpy_global(*target)
        if module == "numpy":
            return getattr(np, name)
        import _codecs

        return _codecs.encode


def _unpickle(path: Path) -> object:
    with open(path, "rb") as f:
        return _BatchUnpickler(f, encoding="latin1").load()  # the releases are Python 2 pickles


def read_row_batch(path: Path, what: str, how: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 or ImageNet32 batch file (a pickled dict, or an .npz) -> data uint8 (n, 3072), labels (n,).

    Rows are CHW: 1024 red values, then 1024 green, then 1024 blue, each plane row-major.
    """
    check_readable(path, how)
    try:
        batch = _unpickle(path) if path.suffix != ".npz" else _read_npz(path)
    except RefusedGlobal as err:
        raise DataError(
            f"{path} holds a pickled object of type {err.qualname}, which could run code when read, so it was not "
            f"loaded; {what} batches hold only dicts, lists, bytes and numpy arrays. The file was crafted or "
            f"replaced: delete it and get an intact copy. {how}"
        ) from err
    except Exception as err:  # truncated pickles raise EOFError, UnpicklingError, ValueError, ...
        raise DataError(
            f"{path} is not a readable {what} batch ({type(err).__name__}: {err}); it is probably truncated or "
            f"corrupt. Expected a pickled (or .npz) dict with 'data' (uint8 rows of 3072 values) and 'labels'. "
            f"{how}"
        ) from err
    if isinstance(batch, dict):
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data = np.asarray(batch.get("data")) if isinstance(batch, dict) else None
    labels = np.asarray(batch.get("labels")) if isinstance(batch, dict) else None
    if (
        data is None
        or labels is None
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
        or labels.shape != (data.shape[0],)
    ):
        found = (
            {k: getattr(v, "shape", type(v).__name__) for k, v in batch.items()}
            if isinstance(batch, dict)
            else (type(batch).__name__)
        )
        raise DataError(
            f"{path} does not hold a {what} batch: expected a dict with 'data' (uint8, shape (n, 3072)) and "
            f"'labels' (n values), found {found}. {how}"
        )
    return data, labels.astype(np.int64)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """An .npz batch; 'data' is memory-mapped when stored uncompressed (the ImageNet32 release), so
    DataLoader workers read the rows they draw instead of each holding the whole file."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        if "data.npy" not in names or "labels.npy" not in names:
            return {}
        info = zf.getinfo("data.npy")
        with zf.open("labels.npy") as f:
            labels = np.lib.format.read_array(f)
        if info.compress_type != zipfile.ZIP_STORED:
            with zf.open(info) as f:
                return {"data": np.lib.format.read_array(f), "labels": labels}
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else (np.lib.format.read_array_header_2_0)
            )
            shape, fortran, dtype = read_header(f)
            header_len = f.tell()
    with open(path, "rb") as raw:  # the member's bytes start after its local header (30 bytes + name + extra)
        raw.seek(info.header_offset)
        name_len, extra_len = struct.unpack("<HH", raw.read(30)[26:30])
    offset = info.header_offset + 30 + name_len + extra_len + header_len
    if offset + int(np.prod(shape)) * dtype.itemsize > path.stat().st_size:
        raise ValueError(f"the 'data' array {shape} runs past the end of the file")
    data = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
    return {"data": data, "labels": labels}


class RowImages:
    """Images stored as CHW rows (ImageNet32 batches), read per index: (3, 32, 32) uint8, label."""

    def __init__(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.batches = batches
        self.offsets = np.cumsum([0] + [len(d) for d, _ in batches])  # first row of each batch

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        b = int(np.searchsorted(self.offsets, i, side="right")) - 1
        data, labels = self.batches[b]
        row = np.array(data[i - self.offsets[b]])  # copies the 3072 bytes out of the memory map
        return torch.from_numpy(row).view(3, 32, 32), int(labels[i - self.offsets[b]])


_LMDB_HANDLES: dict[str, tuple[int, object]] = {}  # path -> (process id, handle)


class LMDBImages:
    """An LSUN-release LMDB (keys -> encoded webp/jpeg/png bytes), decoded per index to uint8
    (3, image_size, image_size): centre crop, then resize. No labels (one scene category)."""

    def __init__(self, path: Path, image_size: int, how: str) -> None:
        self.path, self.image_size, self.how = Path(path), int(image_size), how
        with self._open().begin() as txn:
            self.keys: list[bytes] = list(txn.cursor().iternext(keys=True, values=False))
        if not self.keys:
            raise DataError(f"the LMDB {self.path} opened but holds no images. {how}")
        self[0]  # fail now, not in a worker, when the values are not images

    def _open(self):
        import lmdb

        # py-lmdb refuses a second handle on one LMDB in a process (and its registry survives a fork),
        # and LMDB handles must not be used across a fork: one handle per path per process; a forked
        # DataLoader worker closes its inherited copy (unmapping it in the worker only) and reopens.
        key = str(self.path)
        pid, env = _LMDB_HANDLES.get(key, (None, None))
        if pid != os.getpid():
            if env is not None:
                env.close()
            try:
                env = lmdb.open(key, readonly=True, lock=False, readahead=False, meminit=False)
            except lmdb.Error as err:
                raise DataError(
                    f"{self.path} does not open as an LMDB ({type(err).__name__}: {err}). Expected a directory "
                    f"holding data.mdb (and lock.mdb), as unzipped from the LSUN release. {self.how}"
                ) from err
            _LMDB_HANDLES[key] = (os.getpid(), env)
        return env

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> tuple[Tensor, None]:
        with self._open().begin() as txn:
            value = txn.get(self.keys[i])
        try:
            return decode_image(value, self.image_size), None
        except Exception as err:
            raise DataError(
                f"entry {self.keys[i]!r} of the LMDB {self.path} is not a decodable image ({err}); the release "
                f"stores webp/jpeg/png bytes per key. {self.how}"
            ) from err


class ImageFiles:
    """Image files decoded per index to uint8 (channels, image_size, image_size): centre crop, then resize."""

    def __init__(self, files: list[Path], image_size: int, channels: int) -> None:
        self.files, self.image_size, self.channels = files, int(image_size), int(channels)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Tensor, None]:
        from PIL import Image

        try:
            with Image.open(self.files[i]) as img:
                return decode_image(img, self.image_size, self.channels), None
        except Exception as err:
            raise DataError(
                f"{self.files[i]} is not a readable image ({type(err).__name__}: {err}); remove it from the folder "
                f"or replace it with an intact copy."
            ) from err
