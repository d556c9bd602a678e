"""An offline stand-in for Inception: a small CNN classifier trained once on the run's own labelled data.

Where the Inception weights cannot be had (no download here), `metrics=classifier` scores image runs
with a classifier of the data set itself, the "MNIST score" practice of the GAN literature: its class
probabilities give an Inception-Score-like number (between 1 and the number of classes; 10 on digits
and the MNIST family) and its penultimate layer gives FID / KID features. The numbers are comparable
between runs on the same data set, not with the paper's Inception numbers (Table 3 is on Inception).

The classifier is trained on the data module's "train" split the first time it is needed, checked on
the held-out "val" split, and cached under `cache_dir` (keyed by the data config), so every run and
every evaluation of a sweep scores with the same network.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from wgangp.data.finite import TensorSource
from wgangp.errors import UserInputError
from wgangp.files import replacing

log = logging.getLogger("wgangp")

# Data settings that leave the images the classifier and the statistics see unchanged (data.dequantize changes
# only the training stream: eval_samples keeps the default scaling), so they do not key the caches.
_LOADER_KEYS = {"batch_size", "num_workers", "seed", "batches_per_step", "dequantize"}


class SmallConvClassifier(nn.Module):
    """(N, C, H, W) in [-1, 1] -> features (N, feature_dim) and logits (N, num_classes)."""

    def __init__(self, channels: int, num_classes: int, feature_dim: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),  # H/2
            nn.Conv2d(64, 128, 3, stride=2, padding=1),
            nn.ReLU(),  # H/4
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),  # (N, 128 * 16), any input size
            nn.Linear(128 * 16, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(x)
        return features, self.head(features)


def _labelled_images(datamodule, split: str, max_images: int) -> tuple[Tensor, Tensor]:
    """Up to `max_images` images (N, C, H, W) float in [-1, 1] and labels (N,) of one split."""
    source = datamodule.load(split)
    if isinstance(source, TensorSource):
        if source.label is None:
            raise UserInputError(_unlabelled_message(datamodule))
        rows = torch.arange(min(len(source), max_images))
        batch = source.gather(rows)
    else:  # streamed data sets (LSUN, ImageNet 32x32): a fixed random draw
        batch = source.sample(max_images, torch.Generator().manual_seed(0))
        if "label" not in batch:
            raise UserInputError(_unlabelled_message(datamodule))
    return batch["real"].float(), batch["label"].long()


def _unlabelled_message(datamodule) -> str:
    return (
        f"metrics=classifier trains a classifier on the data's labels, but {type(datamodule).__name__} has none. "
        "Use it with a labelled data set (digits, mnist, fashion_mnist, cifar10, imagenet32), or score with "
        "Inception instead: metrics=inception metrics.inception_weights=/path/to/weights."
    )


def _accuracy(model: SmallConvClassifier, images: Tensor, labels: Tensor, batch_size: int = 500) -> float:
    with torch.no_grad():
        hits = sum(
            int((model(images[i : i + batch_size])[1].argmax(1) == labels[i : i + batch_size]).sum())
            for i in range(0, len(images), batch_size)
        )
    return hits / max(1, len(images))


def train_classifier(
    images: Tensor, labels: Tensor, epochs: int, seed: int = 0, batch_size: int = 128, lr: float = 1e-3
) -> SmallConvClassifier:
    """Adam on cross-entropy with random 1-pixel shifts (so it judges shapes, not exact pixels)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = SmallConvClassifier(images.size(1), int(labels.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        for start in range(0, len(images), batch_size):
            idx = order[start : start + batch_size]
            dx, dy = torch.randint(-1, 2, (2,), generator=gen).tolist()
            x = torch.roll(images[idx], shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(model(x)[1], labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


class ClassifierFeatures(nn.Module):
    """Feature extractor (see wgangp.metrics.features) from a classifier of the run's data set.

    Args:
        data: the run's data config (`${data}`; src/eval.py fills it from the checkpoint).
        cache_dir: where the trained classifier is kept (one file per data config).
        epochs: training epochs over the train split (at most `max_images` images).
        min_val_accuracy: below this held-out accuracy the classifier is rejected (a score from a
            classifier that cannot tell the classes apart would mean nothing).
    """

    def __init__(
        self,
        data: DictConfig | dict | None,
        cache_dir: str,
        epochs: int = 8,
        max_images: int = 60000,
        min_val_accuracy: float = 0.8,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if data is None:
            raise UserInputError("metrics=classifier needs the run's data config (metrics.extractor.data=${data}).")
        config = OmegaConf.to_container(data, resolve=True) if isinstance(data, DictConfig) else dict(data)
        if config.get("subset") is not None:  # the judge of a limited-data run is the full data set's classifier
            config = {**config, "subset": None}
        identity = {k: v for k, v in config.items() if k not in _LOADER_KEYS}
        digest = hashlib.sha1(
            json.dumps(
                {**identity, "epochs": epochs, "max_images": max_images, "seed": seed}, sort_keys=True, default=str
            ).encode()
        ).hexdigest()[:8]
        self.name = f"classifier-{digest}"  # keys the cached real statistics too
        self.path = Path(cache_dir) / f"{self.name}.pt"
        if self.path.is_file():
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
        else:
            saved = self._train(config, epochs, max_images, min_val_accuracy, seed)
        self.net = SmallConvClassifier(saved["channels"], saved["num_classes"])
        self.net.load_state_dict(saved["state_dict"])
        self.net.eval()
        self.val_accuracy = float(saved["val_accuracy"])

    def _train(
        self, config: dict[str, Any], epochs: int, max_images: int, min_val_accuracy: float, seed: int
    ) -> dict[str, Any]:
        datamodule = instantiate(config, seed=seed, batches_per_step=1)
        datamodule.prepare_data()
        datamodule.setup("fit")
        images, labels = _labelled_images(datamodule, "train", max_images)
        log.info(
            "training the scoring classifier once on %d %s images: %s",
            len(images),
            type(datamodule).__name__,
            self.path,
        )
        model = train_classifier(images, labels, epochs, seed)
        val_images, val_labels = _labelled_images(datamodule, "val", max_images)
        accuracy = _accuracy(model, val_images, val_labels)
        log.info("scoring classifier: held-out accuracy %.3f on %d images", accuracy, len(val_images))
        if accuracy < min_val_accuracy:
            raise UserInputError(
                f"the scoring classifier reached only {accuracy:.3f} held-out accuracy on {type(datamodule).__name__} "
                f"(metrics.extractor.min_val_accuracy={min_val_accuracy}); its scores would not mean anything. "
                "Train it longer (metrics.extractor.epochs=...) or use Inception (metrics=inception)."
            )
        saved = {
            "state_dict": model.state_dict(),
            "channels": images.size(1),
            "num_classes": int(labels.max()) + 1,
            "val_accuracy": accuracy,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(self.path) as tmp:  # parallel sweep jobs never read half a file
            torch.save(saved, tmp)
        return saved

    @torch.no_grad()
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """images (N, C, H, W) in [-1, 1] -> {"pool": (N, 128), "logits": (N, num_classes)}."""
        features, logits = self.net(images.float().clamp(-1, 1))
        return {"pool": features, "logits": logits}
