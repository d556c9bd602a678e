"""Refuse, before training, a run whose generator iteration cannot fit in the device's free memory.

A data.batch_size=10000000 toy run used to allocate for minutes until the OS killed it.
The estimate comes from a dry run of one critic step and one generator step on a copy of the
objective at batch 2 and 4: the bytes autograd saves for the backward pass (activations, the
penalty's double-backward graph) grow linearly in the batch, so two points give the per-sample
cost and the fixed part. Added: the weights, their gradients and the optimizer state (Adam: two
moments), and the real batches of a generator iteration (Alg. 1 l.3: n_critic batches) on the
device plus those the loader has in flight.
"""

from __future__ import annotations

import contextlib
import copy
import os
from dataclasses import dataclass

import torch
from torch import Tensor

from wgangp.errors import UserInputError
from wgangp.host import SKIP_ENV, format_bytes, host_free_memory
from wgangp.objectives.engine import critic_terms, frozen, generator_terms
from wgangp.rng import NOISE, step_generator

# Peak memory over saved-for-backward bytes: the backward pass's gradient buffers and the allocator's
# freed-but-held pages: the ratio of the rise of ru_maxrss to the saved bytes over 2 iterations of the toy
# WGAN-GP step at large batches (tests/test_faults_memory.py checks the estimate against a measured peak).
BACKWARD_OVERHEAD = 2.2
PROBE_BATCHES = (2, 4)  # batch norm needs 2 samples


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak bytes of one generator iteration: `fixed + per_sample * batch_size`."""

    fixed: float
    per_sample: float

    def at(self, batch_size: int) -> float:
        return self.fixed + self.per_sample * batch_size

    def max_batch(self, free: float) -> int:
        return max(0, int((free - self.fixed) // self.per_sample)) if self.per_sample > 0 else 0


def _saved_bytes(fn) -> int:
    """Bytes of the distinct storages autograd saves for backward while `fn` runs."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def _step_bytes(objective, batch: int, data_shape: tuple[int, ...]) -> int:
    """Saved bytes of the larger of one critic step and one generator step at `batch` samples."""
    rng = step_generator(0, 0, NOISE)
    real = torch.randn(batch, *data_shape, generator=rng)  # data-shaped floats stand in for real data
    z = objective.sample_latent(batch, rng)
    labels = objective.sample_labels(batch, rng) if objective.uses_labels else None  # class-conditional runs
    with torch.no_grad():
        fake = objective.generate(z, labels)
    objective.view.start_iteration(0, real.device)  # objective.augment's draws, as the loop's first iteration
    critic = _saved_bytes(lambda: critic_terms(objective, real, fake, rng, labels)["critic_loss"])  # the loop's
    with frozen(objective.critic):
        generator = _saved_bytes(lambda: generator_terms(objective, real, z, rng, labels)["generator_loss"])
    return int(BACKWARD_OVERHEAD * max(critic, generator)) + real.nbytes + fake.nbytes


def estimate_iteration_memory(objective, batches_in_flight: int = 1, precision: str = "32") -> MemoryEstimate:
    """The estimate for `objective` (a built wgangp objective on the CPU); the objective is not changed
    (the dry run uses a copy and restores the global random state)."""
    data_shape = tuple(objective.generator.data_shape)
    probe = copy.deepcopy(objective).cpu().train()
    low_precision = "bf16" in str(precision) or str(precision).startswith("16")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if low_precision else contextlib.nullcontext()
    with torch.random.fork_rng(devices=[]), autocast:
        b0, b1 = (_step_bytes(probe, b, data_shape) for b in PROBE_BATCHES)
    per_sample = max(0.0, (b1 - b0) / (PROBE_BATCHES[1] - PROBE_BATCHES[0]))
    weights = sum(p.numel() * p.element_size() for p in objective.parameters())
    sample_bytes = 4 * int(torch.tensor(data_shape).prod())  # one float32 real sample
    # the generator iteration's n_critic real batches, plus the loader's batches in flight
    per_sample += objective.n_critic * sample_bytes * (1 + batches_in_flight)
    fixed = max(0.0, b0 - per_sample * PROBE_BATCHES[0]) + 4 * weights  # weights, grads, two Adam moments
    return MemoryEstimate(fixed=fixed, per_sample=per_sample)


def free_memory(device: torch.device) -> tuple[float, str]:
    """Bytes free on `device` now, and where the number comes from."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return float(free), f"torch.cuda.mem_get_info on {device}"
    return host_free_memory()


def check_memory(
    objective, batch_size: int, device: torch.device, num_workers: int = 0, precision: str = "32"
) -> MemoryEstimate | None:
    """Raise UserInputError when a generator iteration at `batch_size` would not fit in `device`'s free
    memory; returns the estimate (None when WGANGP_SKIP_MEMORY_CHECK=1 or the device is not cpu/cuda)."""
    if os.environ.get(SKIP_ENV) == "1" or device.type not in ("cpu", "cuda"):
        return None
    estimate = estimate_iteration_memory(objective, batches_in_flight=max(1, 2 * num_workers), precision=precision)
    # a larger generator batch (objective.generator_batch_size) is checked as if every step used it: an upper bound
    generator_batch = objective.generator_batch_size or 0
    batch, name = (
        (generator_batch, "objective.generator_batch_size")
        if generator_batch > batch_size
        else (batch_size, "data.batch_size")
    )
    need = estimate.at(batch)
    free, source = free_memory(device)
    if need > free:
        raise UserInputError(
            f"a generator iteration at {name}={batch} needs about {format_bytes(need)} of memory "
            f"({format_bytes(estimate.per_sample)} per sample, measured by a dry run at batch {PROBE_BATCHES[0]} and "
            f"{PROBE_BATCHES[1]}), but only {format_bytes(free)} is free on {device.type} ({source}). Lower {name} "
            f"to at most {estimate.max_batch(0.8 * free)}"
            + (" (and data.batch_size to no more than it)" if name != "data.batch_size" else "")
            + f", or free memory; {SKIP_ENV}=1 skips this check."
        )
    return estimate
