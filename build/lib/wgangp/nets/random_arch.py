"""Table 1's architecture set (Sec. 5.1, App. B): DCGAN variants sampled field by field.

`model=random_arch arch_seed=K` trains the K-th architecture; the 200 of Table 2 are K = 0..199.
"""

from __future__ import annotations

import random

from wgangp.nets.dcgan import DCGANCritic, DCGANGenerator

# Table 1, in sampling order. softplus is softplus(2x + 2) / 2 - 1; "batch_norm" in D means layer
# norm under a gradient penalty (Sec. 4).
TABLE_1: dict[str, tuple] = {
    "g_nonlinearity": ("relu", "leakyrelu", "softplus", "tanh"),
    "d_nonlinearity": ("relu", "leakyrelu", "softplus", "tanh"),
    "g_depth": (4, 8, 12, 20),
    "d_depth": (4, 8, 12, 20),
    "g_batch_norm": (True, False),
    "d_batch_norm": (True, False),
    "g_base_filters": (32, 64, 128),
    "d_base_filters": (32, 64, 128),
}


def sample_architecture(k: int) -> dict:
    """The k-th architecture of Table 1: each field drawn uniformly and independently, determined by k.

    Uses only random.Random(k).random(), whose sequence Python guarantees across versions.
    """
    if int(k) != k or k < 0:
        raise ValueError(f"arch_seed must be a non-negative integer; got {k}")
    rng = random.Random(int(k))
    return {field: values[int(rng.random() * len(values))] for field, values in TABLE_1.items()}


def app_b_weight_decay(arch_seed: int, weight_decay: float) -> float:
    """App. B: `weight_decay` on the discriminator of architecture `arch_seed` when it is normalised (a
    sampled batch norm, which is layer norm under a gradient penalty), else 0. The sweeps use it as the
    resolver `${wgangp.app_b_weight_decay:${arch_seed},1.0e-3}` (registered by wgangp.build)."""
    return float(weight_decay) if sample_architecture(int(arch_seed))["d_batch_norm"] else 0.0


def _scaled(filters: int, filter_scale: float) -> int:
    if not filter_scale > 0:
        raise ValueError(f"filter_scale must be > 0 (1 builds Table 1's filter counts); got {filter_scale}")
    return max(1, round(filters * filter_scale))


def generator_kwargs(arch: dict, filter_scale: float = 1.0) -> dict:
    """DCGANGenerator arguments for a sampled architecture's generator fields; `filter_scale` multiplies
    the sampled base filter count (1: Table 1's; the CPU preset sweeps/random_archs_small.yaml uses less)."""
    return {
        "base_filters": _scaled(arch["g_base_filters"], filter_scale),
        "nonlinearity": arch["g_nonlinearity"],
        "norm": "batch" if arch["g_batch_norm"] else "none",
        "depth": arch["g_depth"],
    }


def critic_kwargs(arch: dict, filter_scale: float = 1.0) -> dict:
    """DCGANCritic arguments for a sampled architecture's critic fields (`filter_scale`: see generator_kwargs)."""
    return {
        "base_filters": _scaled(arch["d_base_filters"], filter_scale),
        "nonlinearity": arch["d_nonlinearity"],
        "norm": "batch" if arch["d_batch_norm"] else "none",
        "depth": arch["d_depth"],
    }


class RandomArchGenerator(DCGANGenerator):
    """The generator of Table 1 architecture `arch_seed`; `arch` holds the sampled choices and the seed.
    `filter_scale` < 1 narrows every layer (CPU presets only; the paper's nets have filter_scale 1)."""

    def __init__(
        self, data_shape: tuple[int, ...], arch_seed: int, latent_dim: int = 128, filter_scale: float = 1.0
    ) -> None:
        arch = sample_architecture(arch_seed)
        super().__init__(data_shape, latent_dim=latent_dim, **generator_kwargs(arch, filter_scale))
        self.arch = {"arch_seed": int(arch_seed), **arch}


class RandomArchCritic(DCGANCritic):
    """The critic of Table 1 architecture `arch_seed`; `arch` holds the sampled choices and the seed.

    A sampled batch norm becomes layer norm when `uses_penalty` (Sec. 4, Table 1); `arch` keeps the
    sampled choice and the attribute `norm` says what was built. `filter_scale`: see RandomArchGenerator;
    `spectral_norm`: see DCGANCritic.
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        arch_seed: int,
        uses_penalty: bool = False,
        filter_scale: float = 1.0,
        spectral_norm: bool = False,
    ) -> None:
        arch = sample_architecture(arch_seed)
        super().__init__(
            data_shape, uses_penalty=uses_penalty, spectral_norm=spectral_norm, **critic_kwargs(arch, filter_scale)
        )
        self.arch = {"arch_seed": int(arch_seed), **arch}
