"""Experiments that are not GAN training runs (the paper's Fig. 1), called through the config's `task`."""
