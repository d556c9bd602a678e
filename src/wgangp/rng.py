"""Per-step random streams: every random draw of generator iteration s comes from (seed, s, stream).

Deriving randomness from the step index instead of a running generator makes three things exact
for free: a resumed run draws what an uninterrupted one would (the checkpoint only needs the
iteration count), DataLoader prefetching cannot shift the stream, and under DDP every rank can draw
the global batch and keep its own slice, so N processes see what one process with N times the
batch would see.
"""

from __future__ import annotations

import random
import zlib

import numpy as np
import torch

# Stream ids: real batches, latents/interpolation weights, evaluation latents, evaluation data, the critic's
# augmentation (objective.augment; its own stream, so turning it on leaves every other draw as it was).
DATA, NOISE, EVAL, EVAL_DATA, AUGMENT = 0, 1, 2, 3, 4


def step_seed(seed: int, step: int, stream: int) -> int:
    """A 63-bit seed for (seed, step, stream), decorrelated by numpy's SeedSequence hashing."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(step), int(stream)]).generate_state(2)
    return (int(state[0]) << 31) ^ int(state[1])


def step_generator(seed: int, step: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on `device` seeded for (seed, step, stream)."""
    return torch.Generator(device=device).manual_seed(step_seed(seed, step, stream))


# Evaluation inputs by name: eval_generator(seed, name). Names given an index here keep the one they were drawn
# with before streams had names, so measured numbers stand: "sample" (wgangp.sample), w1 and quality share index 0
# on purpose (an evaluation scores the z that sample() draws); samples and critic_validation share 1, modes and
# info_codes 4 (drawn before names; each pair's z is the same set of points, which neither relies on). Any other
# name gets an index of its own from its hash.
EVAL_STREAMS = {
    "sample": 0,
    "w1": 0,
    "quality": 0,
    "samples": 1,
    "critic_validation": 1,
    "ngrams": 2,
    "conditional": 3,
    "modes": 4,
    "info_codes": 4,
}


def eval_stream_index(name: str) -> int:
    """The EVAL stream index of evaluation input `name` (EVAL_STREAMS, else 1000 + a 31-bit hash of the name)."""
    return EVAL_STREAMS.get(name, 1000 + zlib.crc32(name.encode()) % 2**31)


def eval_generator(seed: int, name: str, device: torch.device | str = "cpu") -> torch.Generator:
    """The torch.Generator of evaluation input `name` (z, labels, codes) for a run of root seed `seed`."""
    return step_generator(seed, eval_stream_index(name), EVAL, device)


def global_rng_states() -> dict:
    """torch's, numpy's and Python's global random states (and CUDA's), as a checkpoint keeps them so a resumed
    run draws what an uninterrupted one would (dropout, a data loader's shuffling outside the step streams)."""
    states: dict = {
        "torch": torch.get_rng_state(),
        "numpy": [v.tolist() if isinstance(v, np.ndarray) else v for v in np.random.get_state()],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_global_rng_states(states: dict) -> None:
    """Restore what global_rng_states returned (lists where a checkpoint's weights_only load gives lists)."""
    torch.set_rng_state(states["torch"])
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    py = states["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
