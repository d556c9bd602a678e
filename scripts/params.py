"""Parameter counts of every `model=` option's generator and critic, as a Markdown table. `make params` runs it.

    .venv/bin/python scripts/params.py

Each architecture at the resolution the paper trains it at, built on the meta device (shapes only: no
memory, no initialisation), with the critic as a gradient-penalty objective builds it (Sec. 4: layer norm
for batch norm); random_arch at arch_seed 0, then the range over the 200 architectures of Table 2.
"""

from __future__ import annotations

import logging

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from torch import nn

from wgangp.build import CONF_DIR
from wgangp.cli import entry_point
from wgangp.nets.random_arch import RandomArchCritic, RandomArchGenerator

# model= option -> the image sizes it is counted at
PARAM_SIZES = {
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


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_table() -> str:
    lines = ["| model | size | G params | D params |", "|---|---|---|---|"]
    for name, sizes in PARAM_SIZES.items():
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            model = compose("train", overrides=[f"model={name}"]).model
        for size in sizes:
            shape = (3, size, size)
            with torch.device("meta"):
                g = instantiate(model.generator, data_shape=shape)
                d = instantiate(model.critic, data_shape=shape, uses_penalty=True)
            label = f"{name} (arch_seed 0)" if name == "random_arch" else name
            lines.append(f"| {label} | {size}x{size} | {count(g):,} | {count(d):,} |")
    with torch.device("meta"):
        g_counts = [count(RandomArchGenerator((3, 32, 32), k)) for k in range(200)]
        d_counts = [count(RandomArchCritic((3, 32, 32), k, uses_penalty=True)) for k in range(200)]
    lines.append(
        f"| random_arch, arch_seed 0..199 | 32x32 | {min(g_counts):,} to {max(g_counts):,} "
        f"| {min(d_counts):,} to {max(d_counts):,} |"
    )
    return "\n".join(lines)


@entry_point
def main() -> None:
    logging.getLogger("wgangp").setLevel(logging.ERROR)  # one "batch norm -> layer norm" warning per critic built
    print(parameter_table())


if __name__ == "__main__":
    main()
