"""wgangp: Improved Training of Wasserstein GANs (Gulrajani et al. 2017) in Lightning + Hydra."""

from wgangp.sampling import sample

__all__ = ["sample"]
