"""The released CIFAR-10 preprocessing, `data.dequantize: true` (gan_cifar_resnet.py, Table 3's ResNet):

    real = 2 * (x / 256 - 0.5) + U[0, 1/128)      x in {0, ..., 255}

i.e. x / 128 - 1, whose 256 grey levels are 1/128 apart in [-1, 1 - 1/128], plus uniform noise that fills
each level's bin, so the critic sees a continuous distribution in [-1, 1) instead of 256 spikes. The
default (dequantize: false) is x / 127.5 - 1 on the grid [-1, 1], as gan_cifar.py's 2 * (x / 255 - 0.5).

The noise is part of the data stream's draw: the same per-step generator that picks the rows draws it
right after them (wgangp.data.stream), so resume, DataLoader workers and DDP slices stay exact, and the
rows are those of a run without dequantization. Evaluation data (GANDataModule.eval_samples: FID
statistics, critic validation) keeps the default scaling, so runs with and without share statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from wgangp.data.stream import Source

LEVEL = 1 / 128  # the distance between grey levels of 2 * (x / 256 - 0.5): the noise's width


def released_scale(x: Tensor) -> Tensor:
    """uint8 pixels -> float32 2 * (x / 256 - 0.5) = x / 128 - 1, in [-1, 1 - 1/128]."""
    return x.float().div_(128.0).sub_(1.0)


@dataclass
class Dequantized:
    """`source`'s draw plus U[0, 1/128) per value of each image (n, *shape), drawn from the same generator
    after the rows. A decoded draw ("real", from a source decoding with released_scale) gets the noise added;
    a draw of indices only (an in-memory set, gathered on the training device) carries it as "noise", added
    there (GANDataModule.on_after_batch_transfer)."""

    source: Source
    shape: tuple[int, ...]

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        out = self.source.sample(n, generator)
        noise = torch.rand(n, *self.shape, generator=generator).mul_(LEVEL)  # (n, C, H, W) in [0, 1/128)
        if "real" in out:
            out["real"] = out["real"] + noise
        else:
            out["noise"] = noise
        return out
