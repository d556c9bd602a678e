"""Per-step random streams: every random draw of generator iteration s comes from (seed, s, stream).

Deriving randomness from the step index instead of a running generator makes three things exact
for free: a resumed run draws what an uninterrupted one would (the checkpoint only needs the
iteration count), DataLoader prefetching cannot shift the stream, and under DDP every rank can draw
the global batch and keep its own slice, so N processes see what one process with N times the
batch would see.
"""

from __future__ import annotations

import numpy as np
import torch

# Stream ids: real batches, latents/interpolation weights, evaluation latents, evaluation data.
DATA, NOISE, EVAL, EVAL_DATA = 0, 1, 2, 3


def step_seed(seed: int, step: int, stream: int) -> int:
    """A 63-bit seed for (seed, step, stream), decorrelated by numpy's SeedSequence hashing."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(step), int(stream)]).generate_state(2)
    return (int(state[0]) << 31) ^ int(state[1])


def step_generator(seed: int, step: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on `device` seeded for (seed, step, stream)."""
    return torch.Generator(device=device).manual_seed(step_seed(seed, step, stream))
