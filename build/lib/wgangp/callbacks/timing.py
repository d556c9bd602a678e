"""Seconds per generator iteration of a real training run, and what a full run would take at that rate.

`scripts/time_experiment.py` (and through it `scripts/gpu_check.sh`) adds `IterationTimer` to an
experiment's callbacks to answer "how long would Table 3's 100K generator iterations take here?"
(App. F) from a few hundred iterations of the real config, Trainer and data loader included.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback


def projected_hours(seconds_per_iter: float, generator_iters: int) -> float:
    """Hours for `generator_iters` generator iterations at `seconds_per_iter` (evaluation not included)."""
    if not seconds_per_iter > 0 or generator_iters < 0:
        raise ValueError(
            f"need seconds_per_iter > 0 and generator_iters >= 0; got {seconds_per_iter}, {generator_iters}"
        )
    return seconds_per_iter * generator_iters / 3600.0


class IterationTimer(Callback):
    """Wall seconds per generator iteration after `warmup_iters` (kernel selection, cudnn autotuning and
    allocator growth happen in the first ones), device work included; written as JSON to `out_file` when
    training ends: {"timed_iters", "seconds", "seconds_per_iter", "warmup_iters", "device"}.

    One training step is one generator iteration (objectives/base.py), so batch ends count them.
    """

    def __init__(self, out_file: str, warmup_iters: int = 20) -> None:
        super().__init__()
        self.out_file = Path(out_file)
        self.warmup_iters = int(warmup_iters)
        self._start: float | None = None
        self._start_iter = 0
        self._end: float | None = None
        self._end_iter = 0

    @staticmethod
    def _now(pl_module) -> float:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)  # the GPU's queued work belongs to these iterations
        return time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        done = trainer.global_step
        if self._start is None:
            if done >= self.warmup_iters:
                self._start, self._start_iter = self._now(pl_module), done
            return
        self._end, self._end_iter = self._now(pl_module), done

    def on_train_end(self, trainer, pl_module) -> None:
        if self._start is None or self._end is None:
            raise ValueError(
                f"IterationTimer timed nothing: the run ended at generator iteration {trainer.global_step}, "
                f"warmup_iters={self.warmup_iters}; train at least warmup_iters + 1 iterations"
            )
        timed = self._end_iter - self._start_iter
        seconds = self._end - self._start
        result = {
            "timed_iters": timed,
            "seconds": seconds,
            "seconds_per_iter": seconds / timed,
            "warmup_iters": self.warmup_iters,
            "device": str(pl_module.device),
        }
        self.out_file.parent.mkdir(parents=True, exist_ok=True)
        self.out_file.write_text(json.dumps(result, indent=1) + "\n")
