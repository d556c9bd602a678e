"""`python src/sample.py ckpt_path=RUN/checkpoints/last.ckpt num_samples=64 out=samples.png [seed=0]`

Writes samples from a checkpoint: `.npy` (the raw array), `.png` (an image grid for image data, a
scatter plot for 2-d data) or `.pt`.
"""

from wgangp.cli_sample import console

if __name__ == "__main__":
    console()
