"""The image data module: `data=mnist|fashion_mnist|cifar10|lsun_bedroom|imagenet32|image_folder|digits`.

Every image data set yields {"real": float (N, C, H, W) in [-1, 1], "label": int64 (N,) when the data has
labels}. What depends on the files is a reader (wgangp.data.readers); the held-out split, the training subset
and the stream of batches are written once, here and in wgangp.data.base, for every format. Data read into
memory (digits, MNIST family, CIFAR-10, or any format with `in_memory=true`) is sampled on the training device
as uint8; the rest (LSUN, ImageNet 32x32, image folders) is decoded per index in DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Callable

from wgangp.data.base import GANDataModule
from wgangp.data.errors import DataError
from wgangp.data.finite import DecodeSource, TensorSource, materialise, select, split_indices, subset_indices
from wgangp.data.readers import Reader
from wgangp.data.stream import Source


class ImageDataModule(GANDataModule):
    """An image data set read by `reader`, split, subset and streamed the same way for every format.

    The data config stays flat: `reader` names the format's class (`_target_` with `_partial_: true`) and every
    field this module does not take (root, image_size, download, dataset_class, category, channels) is the
    reader's, so `data.root=...` and `data.image_size=...` mean the same for every data set.

    Args:
        reader: builds the reader from `options` (a wgangp.data.readers.Reader class).
        subset: train on a fixed random subset of this many training images (Sec. 5.6 uses 1000 of MNIST),
            the same in every run; None: all of them.
        val_fraction: hold out this share of the training images (a fixed permutation, the same in every run);
            None: the release's own held-out files (MNIST's t10k, CIFAR-10's test_batch, LSUN's val LMDB,
            ImageNet 32x32's val_data). Formats without them (digits, image folders) need a fraction.
        in_memory: decode a format read per index (LSUN, ImageNet 32x32, image folders) once and sample it on
            the training device (small sets); the others are always held in memory.
        batch_size, num_workers, seed, batches_per_step, dequantize: see GANDataModule.
        **options: the reader's arguments.
    """

    def __init__(
        self,
        reader: Callable[..., Reader],
        subset: int | None = None,
        val_fraction: float | None = None,
        in_memory: bool = False,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        batches_per_step: int = 1,
        dequantize: bool = False,
        **options,
    ) -> None:
        super().__init__(batch_size, num_workers, seed, batches_per_step, dequantize)
        self.reader = reader(**options)
        self.num_classes = self.reader.num_classes
        self.subset, self.in_memory = subset, bool(in_memory)
        self.val_fraction = None if val_fraction is None else float(val_fraction)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.reader.shape

    def prepare_data(self) -> None:
        """Fetch missing files when data.download is on (rank 0 only, under DDP)."""
        self.reader.prepare()

    def load(self, split: str) -> Source:
        name = self.reader.name
        if self.val_fraction is None:
            if split == "val" and not self.reader.held_out:
                raise DataError(
                    f"the {name} data has no held-out files, and data.val_fraction=null holds out none of its "
                    f"images: set data.val_fraction (e.g. 0.1) to hold out a fixed share of them."
                )
            images = self.reader.read(split)
        else:
            images = self.reader.read("train")
            train, val = split_indices(len(images), self.val_fraction)
            if split == "val" and len(val) == 0:
                raise DataError(
                    f"the {name} training data has {len(images)} images, too few to hold out "
                    f"data.val_fraction={self.val_fraction} of them; add images or raise data.val_fraction."
                )
            images = select(images, train if split == "train" else val)
        if split == "train" and self.subset is not None:  # drawn from what is left after the held-out split
            images = select(images, subset_indices(len(images), self.subset, f"the {name} training split"))
        if isinstance(images, TensorSource):
            return images
        return materialise(images) if self.in_memory else DecodeSource(images)
