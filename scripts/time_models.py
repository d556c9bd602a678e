"""Parameter counts of every `model=` option and seconds per WGAN-GP generator iteration on this machine.

    .venv/bin/python scripts/time_models.py                 # counts, then dcgan and resnet timings
    .venv/bin/python scripts/time_models.py --models dcgan --iters 5 --batch 64

A generator iteration is Alg. 1's n_critic critic steps (each with its gradient penalty) and one
generator step, on random "real" images; critics are built as under a penalty (batch -> layer norm).
"""

from __future__ import annotations

import argparse
import logging
import time
from functools import partial

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from wgangp.nets.random_arch import RandomArchCritic, RandomArchGenerator
from wgangp.objectives.wgan_gp import WGANGP
from wgangp.rng import step_generator
from wgangp.train import CONF_DIR

# The resolution each architecture is trained at in the paper: CIFAR-10 / 32x32 ImageNet, or LSUN 64x64.
MAIN_SIZE = {
    "dcgan": (32, 64),
    "random_arch": (32,),
    "resnet": (32,),
    "lsun_no_bn_const_filters": (64,),
    "lsun_mlp_g": (64,),
    "lsun_no_norm": (64,),
    "lsun_gated": (64,),
    "lsun_tanh": (64,),
    "resnet101": (64,),
}


def model_config(name: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[f"model={name}"]).model


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_table() -> None:
    print("| model | size | G params | D params |\n|---|---|---|---|")
    for name, sizes in MAIN_SIZE.items():
        cfg = model_config(name)
        for size in sizes:
            shape = (3, size, size)
            with torch.device("meta"):  # shapes only: no memory, no initialisation
                g = instantiate(cfg.generator, data_shape=shape)
                d = instantiate(cfg.critic, data_shape=shape, uses_penalty=True)
            label = f"{name} (arch_seed 0)" if name == "random_arch" else name
            print(f"| {label} | {size}x{size} | {count(g):,} | {count(d):,} |")
    with torch.device("meta"):
        g_counts = [count(RandomArchGenerator((3, 32, 32), k)) for k in range(200)]
        d_counts = [count(RandomArchCritic((3, 32, 32), k, uses_penalty=True)) for k in range(200)]
    print(f"| random_arch, arch_seed 0..199 | 32x32 | {min(g_counts):,} to {max(g_counts):,} "
          f"| {min(d_counts):,} to {max(d_counts):,} |")


def seconds_per_iteration(name: str, size: int, batch: int, n_critic: int, iters: int) -> float:
    cfg = model_config(name)
    shape = (3, size, size)
    torch.manual_seed(0)
    objective = WGANGP(
        generator=instantiate(cfg.generator, data_shape=shape),
        critic=instantiate(cfg.critic, data_shape=shape, uses_penalty=True),
        optimizer=partial(torch.optim.Adam, lr=1e-4, betas=(0.0, 0.9)),  # Alg. 1 defaults
        n_critic=n_critic,
    )
    opt_g, opt_d = objective.configure_optimizers()
    real = torch.rand(n_critic, batch, *shape) * 2 - 1
    objective.train_iteration(real, opt_g, opt_d, step_generator(0, 0, 1))  # warm-up (oneDNN kernel creation)
    start = time.perf_counter()
    for i in range(iters):
        objective.train_iteration(real, opt_g, opt_d, step_generator(0, i + 1, 1))
    return (time.perf_counter() - start) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["dcgan", "resnet"])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--no-counts", action="store_true")
    args = parser.parse_args()
    logging.getLogger("wgangp").setLevel(logging.ERROR)  # the batch -> layer norm notice, once per critic
    if not args.no_counts:
        parameter_table()
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; {args.size}x{args.size}, batch "
          f"{args.batch}, n_critic {args.n_critic}, WGAN-GP, mean of {args.iters} iterations after one warm-up")
    for name in args.models:
        seconds = seconds_per_iteration(name, args.size, args.batch, args.n_critic, args.iters)
        print(f"{name}: {seconds:.2f} s per generator iteration")


if __name__ == "__main__":
    main()
