"""wgangp: Improved Training of Wasserstein GANs (Gulrajani et al. 2017) in Lightning + Hydra.

`wgangp.sample` is imported on first use, so `import wgangp.penalties` or `wgangp.losses` (pure functions for the
user's own loop) loads torch alone, not Hydra, Lightning or the nets.
"""

__all__ = ["sample"]


def __getattr__(name: str):
    if name == "sample":
        from wgangp.sampling import sample

        return sample
    raise AttributeError(f"module 'wgangp' has no attribute {name!r}")
