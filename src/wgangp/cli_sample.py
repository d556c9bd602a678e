"""Body of `python src/sample.py ckpt_path=... num_samples=... out=FILE [seed=0]`.

Text checkpoints (the language model, Sec. 5.5) print their decoded lines; `out=FILE.txt` also
writes them, `.npy`/`.pt` the per-position character distributions."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from wgangp.cli import entry_point
from wgangp.config_checks import SAMPLE_RULES, check_checkpoint_path, check_values
from wgangp.data.text import CharVocabulary
from wgangp.errors import UserInputError, writing
from wgangp.sampling import load_vocabulary, sample

# out: null is samples.png for images and points; text prints its lines and writes only an explicit out
# ema: null samples the generator's weight average when the checkpoint has one (wgangp.sampling.use_ema)
DEFAULTS = {"ckpt_path": "???", "num_samples": 64, "out": None, "seed": 0, "ema": None}
USAGE = (
    "usage: python src/sample.py ckpt_path=RUN/checkpoints/last.ckpt num_samples=64 out=samples.png [seed=0] "
    "[ema=true|false]\n"
    "(text runs print their decoded lines; out=FILE.txt also writes them; ema: the generator's weight average, "
    "by default when the checkpoint has one)"
)


def write_samples(samples: torch.Tensor, out: Path) -> Path:
    """Write samples by the file's suffix: .npy, .pt, or .png (image grid or 2-d scatter)."""
    with writing(out, "samples file"):
        _write(samples, out)
    return out


def _write(samples: torch.Tensor, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, samples.numpy())
    elif out.suffix == ".pt":
        torch.save(samples, out)
    elif out.suffix == ".png" and samples.dim() == 4:
        from torchvision.utils import save_image

        buffer = io.BytesIO()  # PIL writing straight to a full disk returns without error; write the bytes ourselves
        save_image(
            samples,
            buffer,
            format="png",
            nrow=int(math.ceil(math.sqrt(len(samples)))),
            normalize=True,
            value_range=(-1, 1),
        )
        out.write_bytes(buffer.getvalue())
    elif out.suffix == ".png" and samples.dim() == 2 and samples.size(1) == 2:
        from wgangp.plots import plt, save_figure

        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(samples[:, 0], samples[:, 1], s=4, c="tab:green", marker="+")
        ax.set_aspect("equal")
        save_figure(fig, out)
    else:
        raise UserInputError(
            f"cannot write samples of shape {tuple(samples.shape)} to out={out}: use .npy or .pt, or .png for "
            "images (N, C, H, W) and 2-d points (N, 2)."
        )


@entry_point
def main(argv: list[str]) -> int:
    """`python src/sample.py key=value ...`; errors end the process through wgangp.cli's boundary (exit 2)."""
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    cfg = OmegaConf.create(DEFAULTS)
    OmegaConf.set_struct(cfg, True)
    try:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(argv))
    except OmegaConfBaseException as err:
        raise UserInputError(f"{str(err).splitlines()[0]}. {' '.join(USAGE.splitlines())}") from err
    check_values(cfg, SAMPLE_RULES, "")
    ckpt_path = check_checkpoint_path(cfg)
    samples = sample(ckpt_path, int(cfg.num_samples), seed=int(cfg.seed), ema=cfg.ema)
    vocabulary = load_vocabulary(ckpt_path)
    if vocabulary is not None:  # text: argmax per position, trailing padding removed
        lines = CharVocabulary(vocabulary, seq_len=samples.size(-1)).decode(samples)
        print("\n".join(lines))
        if cfg.out is None:
            return 0
        if Path(cfg.out).suffix == ".txt":
            out = Path(cfg.out)
            with writing(out, "samples file"):
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
            print(f"wrote {len(lines)} lines to {out}")
            return 0
    out = write_samples(samples, Path(cfg.out or "samples.png"))
    print(f"wrote {len(samples)} samples of shape {tuple(samples.shape[1:])} to {out}")
    return 0
