"""The base data module: a `Source` turned into the per-generator-iteration stream of real batches."""

from __future__ import annotations

from dataclasses import replace

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from wgangp.data.dequantize import Dequantized, released_scale
from wgangp.data.errors import DataError
from wgangp.data.finite import DecodeSource, IndexSource, TensorSource
from wgangp.data.stream import Source, StepSampler, StepStream
from wgangp.rng import EVAL_DATA, step_generator


class GANDataModule(L.LightningDataModule):
    """Subclasses provide `load(split)` (a wgangp.data.stream.Source for "train" or "val") and
    `data_shape`, and may override `prepare_data` (downloads). LightningDataModule's contract:
    `prepare_data()` fetches files, `setup()` loads them (wgangp.build.build calls both before it
    builds the nets, so unusable files stop the run before any training step; Lightning's own calls
    then find everything in place); properties never load.

    A TensorSource (a data set held in memory) is sampled on the training device: the loader carries
    only the drawn indices, (batches_per_step, batch_size) int64 per generator iteration, and
    `on_after_batch_transfer` gathers the rows there and converts them to float, so no DataLoader
    worker sits on the hot path. Any other source is sampled where the loader runs (its workers).

    Args:
        batch_size: real samples per critic step and per device (m of Alg. 1).
        num_workers: DataLoader worker processes; they never change what is drawn.
        seed: root of the data stream (conf/train.yaml: the run's seed).
        batches_per_step: real batches per generator iteration (conf/train.yaml: objective.n_critic,
            one fresh batch per critic step, Alg. 1 l.3).
        dequantize: train on the released CIFAR-10 preprocessing, 2 * (x / 256 - 0.5) + U[0, 1/128)
            (wgangp.data.dequantize), instead of x / 127.5 - 1; 8-bit image data only.
    """

    data_shape: tuple[int, ...]
    #: classes of the data's labels (batches then carry "label" (batches_per_step, m) int64); None: unlabelled
    num_classes: int | None = None

    def __init__(
        self, batch_size: int, num_workers: int = 0, seed: int = 0, batches_per_step: int = 1, dequantize: bool = False
    ) -> None:
        super().__init__()
        self.dequantize = bool(dequantize)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.batches_per_step = int(batches_per_step)
        self._sources: dict[str, Source] = {}
        self._val_error: DataError | None = None
        self._on_device: TensorSource | None = None

    def load(self, split: str) -> Source:
        """The source of `split` ("train" or "val"); raise wgangp.data.errors.DataError when unusable."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        """Load the training data (a DataError stops the run) and the held-out split. An unusable held-out
        split (e.g. val_fraction=0) is an error only for what asks for it (`val_source`)."""
        if "train" in self._sources:
            return
        self._sources["train"] = self.load("train")
        source = self._sources["train"]
        if self.dequantize and not (
            isinstance(source, DecodeSource) or (isinstance(source, TensorSource) and source.real.dtype == torch.uint8)
        ):
            raise DataError(
                f"data.dequantize=true adds noise to 8-bit images, but {type(self).__name__} does not deliver "
                "8-bit images; set data.dequantize=false."
            )
        try:
            self._sources["val"] = self.load("val")
        except DataError as e:
            self._val_error = e

    def _loaded(self, split: str) -> Source:
        if split not in ("train", "val"):
            raise ValueError(f'split={split!r} must be "train" or "val"')
        if "train" not in self._sources:
            raise RuntimeError(f"{type(self).__name__} is not set up: call prepare_data() and setup() first")
        if split == "val" and self._val_error is not None:
            raise self._val_error
        return self._sources[split]

    @property
    def source(self) -> Source:
        """The training data."""
        return self._loaded("train")

    @property
    def val_source(self) -> Source:
        """Held-out real data, never drawn by the training stream (paper Sec. 5.6)."""
        return self._loaded("val")

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        source = self.source
        if isinstance(source, TensorSource):
            source = IndexSource(len(source))  # rows gathered (and decoded) on the training device
        elif self.dequantize:
            source = replace(source, decode=released_scale)  # DecodeSource: decoded in the loader
        if self.dequantize:
            source = Dequantized(source, self.data_shape)
        sampler = StepSampler(source, self.seed, self.batches_per_step, self.batch_size, rank, world)
        start = trainer.global_step if trainer is not None else 0  # a resumed run continues its stream
        return DataLoader(
            StepStream(sampler, start=start),
            batch_size=None,  # the sampler already batches
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def on_after_batch_transfer(self, batch: dict[str, Tensor], dataloader_idx: int) -> dict[str, Tensor]:
        if "index" not in batch:
            return batch
        index = batch["index"]  # (batches_per_step, batch_size) int64, already on the training device
        if self._on_device is None or self._on_device.real.device != index.device:
            self._on_device = self.source.to(index.device)  # once per run: the uint8 data set moves over
            if self.dequantize:
                self._on_device = replace(self._on_device, decode=released_scale)
        out = self._on_device.gather(index)  # real (batches, m, *data_shape) float, label (batches, m)
        if "noise" in batch:  # data.dequantize: U[0, 1/128) drawn with the indices (wgangp.data.dequantize)
            out["real"] = out["real"] + batch["noise"]
        return out

    def eval_samples(self, n: int, index: int = 0, split: str = "train") -> Tensor:
        """`n` real samples of `split` for evaluation, fixed by (seed, index); the random stream is
        disjoint from the training stream's (the rows themselves repeat for finite training data)."""
        return self.eval_batch(n, index, split)["real"]

    def eval_batch(self, n: int, index: int = 0, split: str = "train") -> dict[str, Tensor]:
        """What `eval_samples` draws, with the labels ("label" (n,) int64) where the data has them."""
        return self._loaded(split).sample(n, step_generator(self.seed, index, EVAL_DATA))
