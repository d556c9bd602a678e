"""What the Table 2 sweep (sweeps/random_archs.yaml) costs: FLOPs per generator iteration of every sampled
architecture and objective, seconds per iteration measured here for a few, and a GPU-hours estimate.

    .venv/bin/python scripts/sweep_cost.py                              # 200 archs x {wgan_gp, dcgan}
    .venv/bin/python scripts/sweep_cost.py --time-seeds 2 7 0 --gpu-tflops 20

FLOPs are counted with torch.utils.flop_counter's formulas (convolutions and matmuls: forward, backward
and the penalty's double backward) over one `train_iteration` (Alg. 1: n_critic critic steps and one
generator step) run on the meta device (shapes only, no arithmetic). `--sample N` counts arch_seed
0..N-1 only and scales to `--archs`: every seed draws its Table 1 fields independently, so the first N
are a random sample of the 200 (the standard error of the mean is printed). The GPU figure is an
estimate: total FLOPs divided by an assumed achieved throughput (`--gpu-tflops`), not a measurement.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from wgangp.build import CONF_DIR
from wgangp.cli import entry_point
from wgangp.errors import UserInputError, writing
from wgangp.nets.random_arch import RandomArchCritic, RandomArchGenerator, sample_architecture
from wgangp.rng import step_generator


def objective_config(name: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[f"objective={name}", "model=random_arch"]).objective


def build(objective_cfg, arch_seed: int, shape: tuple[int, ...], filter_scale: float = 1.0):
    uses_penalty = get_class(objective_cfg._target_).uses_gradient_penalty
    return instantiate(
        objective_cfg,
        generator=RandomArchGenerator(shape, arch_seed, filter_scale=filter_scale),
        critic=RandomArchCritic(shape, arch_seed, filter_scale=filter_scale, uses_penalty=uses_penalty),
        seed=0,
    )


class CountFlops(TorchDispatchMode):
    """Counts matmul/convolution FLOPs with torch's own formulas (torch.utils.flop_counter.flop_registry).
    FlopCounterMode's module hooks break autograd.grad(create_graph=True), which the penalty needs."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.flops += count(*args, **kwargs, out_val=out)
        return out


def iteration_flops(objective_cfg, arch_seed: int, shape: tuple[int, ...], batch: int, filter_scale: float) -> int:
    """FLOPs of one generator iteration at `batch` images per critic / generator step (on the meta device)."""
    with torch.device("meta"):
        objective = build(objective_cfg, arch_seed, shape, filter_scale)
    opt_g, opt_d = objective.configure_optimizers()
    real = torch.empty(objective.n_critic, batch, *shape, device="meta")
    with CountFlops() as counter:
        objective.train_iteration(real, opt_g, opt_d, step_generator(0, 0, 1))
    return counter.flops


def seconds_per_iteration(objective, shape: tuple[int, ...], batch: int, iters: int) -> float:
    opt_g, opt_d = objective.configure_optimizers()
    real = torch.rand(objective.n_critic, batch, *shape) * 2 - 1
    objective.train_iteration(real, opt_g, opt_d, step_generator(0, 0, 1))  # warm-up (oneDNN kernel creation)
    start = time.perf_counter()
    for i in range(iters):
        objective.train_iteration(real, opt_g, opt_d, step_generator(0, i + 1, 1))
    return (time.perf_counter() - start) / iters


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", type=int, default=200, help="arch_seed 0..archs-1 (Table 2: 200)")
    parser.add_argument("--sample", type=int, default=None, help="count arch_seed 0..sample-1 and extrapolate")
    parser.add_argument("--objectives", nargs="*", default=["wgan_gp", "dcgan"])
    parser.add_argument("--channels", type=int, default=3, help="3: ImageNet 32x32; 1: data=digits")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--filter-scale", type=float, default=1.0, help="model.generator.filter_scale")
    parser.add_argument("--csv", help="write arch_seed, objective, GFLOP per iteration here")
    parser.add_argument("--generator-iters", type=int, default=100_000)
    parser.add_argument("--time-seeds", type=int, nargs="*", default=[], help="measure s/iteration for these")
    parser.add_argument("--iters", type=int, default=2, help="timed iterations after one warm-up")
    parser.add_argument("--gpu-tflops", type=float, default=20.0, help="assumed achieved GPU TFLOP/s")
    args = parser.parse_args()
    bad = [
        f"--{k.replace('_', '-')}={v}"
        for k, v in vars(args).items()
        if k in ("archs", "sample", "batch", "generator_iters", "iters", "filter_scale", "gpu_tflops")
        and v is not None
        and not v > 0
    ]
    if bad or args.channels not in (1, 3):
        raise UserInputError(
            f"{', '.join(bad) or f'--channels={args.channels}'} invalid: counts, --filter-scale and "
            "--gpu-tflops must be positive and --channels 1 or 3."
        )
    logging.getLogger("wgangp").setLevel(logging.ERROR)  # the batch -> layer norm notice, once per critic
    shape = (args.channels, 32, 32)
    totals = {}
    print(f"| objective | arch_seed | GFLOP per generator iteration (batch {args.batch}) | measured s/iter here |")
    print("|---|---|---|---|")
    for name in args.objectives:
        cfg = objective_config(name)
        flops = []
        for k in range(args.sample or args.archs):
            flops.append(iteration_flops(cfg, k, shape, args.batch, args.filter_scale))
        totals[name] = flops
        for k in args.time_seeds:
            torch.manual_seed(0)
            s = seconds_per_iteration(build(cfg, k, shape, args.filter_scale), shape, args.batch, args.iters)
            print(f"| {name} | {k} | {flops[k] / 1e9:.1f} | {s:.2f} ({flops[k] / s / 1e9:.0f} GFLOP/s) |")
        print(
            f"| {name} | {len(flops)} counted: min / median / max | {min(flops) / 1e9:.1f} / "
            f"{sorted(flops)[len(flops) // 2] / 1e9:.1f} / {max(flops) / 1e9:.1f} | |"
        )
    if args.csv:
        with writing(args.csv, "csv file"), open(args.csv, "w") as f:
            f.write("objective,arch_seed,gflop_per_iter\n")
            f.writelines(f"{n},{k},{v / 1e9:.3f}\n" for n, fl in totals.items() for k, v in enumerate(fl))
    n = len(next(iter(totals.values())))
    per_arch = [sum(f[k] for f in totals.values()) for k in range(n)]  # all objectives of one architecture
    cheapest = sorted(range(n), key=per_arch.__getitem__)
    print(f"\ncheapest arch_seeds (all objectives together): {cheapest[:12]}")
    for k in cheapest[:6]:
        print(f"  {k}: {sample_architecture(k)}")
    mean = sum(per_arch) / n
    sem = (sum((v - mean) ** 2 for v in per_arch) / max(n - 1, 1) / n) ** 0.5
    scale = args.archs * args.generator_iters
    total = mean * scale
    print(
        f"\ntotal: {total / 1e18:.2f} +- {sem * scale / 1e18:.2f} EFLOP for {args.archs} archs x "
        f"{len(args.objectives)} objectives x {args.generator_iters} generator iterations ({n} archs counted)"
    )
    for name, flops in totals.items():
        print(f"  {name}: {sum(flops) / n * scale / 1e18:.2f} EFLOP")
    print(
        f"estimate at an assumed {args.gpu_tflops:g} TFLOP/s achieved: "
        f"{total / (args.gpu_tflops * 1e12) / 3600:,.0f} +- {sem * scale / (args.gpu_tflops * 1e12) / 3600:,.0f} "
        "GPU-hours"
    )


if __name__ == "__main__":
    main()
