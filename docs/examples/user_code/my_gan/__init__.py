"""A user's own package of GAN pieces, outside wgangp: put its parent folder on PYTHONPATH."""
