"""Body of `python src/sample.py ckpt_path=... num_samples=... out=FILE [seed=0]`.

Class-conditional checkpoints take `labels=[3,3,5]` (one class per sample, so three samples; a num_samples=
given with it must agree) or `per_class=8` (a grid with one row per class); InfoGAN checkpoints `codes=C`
(one row per value of the categorical code, `columns` images along continuous code C from -span to span).

Text checkpoints (the language model, Sec. 5.5) print their decoded lines; `out=FILE.txt` also
writes them, `.npy`/`.pt` the per-position character distributions."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from wgangp.cli import entry_point
from wgangp.config_checks import SAMPLE_RULES, check_checkpoint_path, check_values
from wgangp.config_tree import trust_config_dir
from wgangp.data.text import CharVocabulary
from wgangp.errors import UserInputError, writing
from wgangp.sampling import label_values, load_vocabulary, per_class_labels, sample, show_labels, traverse_codes

# out: null is samples.png for images and points; text prints its lines and writes only an explicit out
DEFAULTS = {
    "ckpt_path": "???",
    "num_samples": 64,
    "out": None,
    "seed": 0,
    "labels": None,
    "per_class": None,
    "codes": None,
    "columns": 8,
    "span": 2.0,
    "ema": None,  # null: the weight average when the checkpoint has one (wgangp.sampling.use_ema)
    "config_dir": None,  # a user's config directory whose classes the checkpoint may name (wgangp.config_tree)
}
USAGE = (
    "usage: python src/sample.py ckpt_path=RUN/checkpoints/last.ckpt num_samples=64 out=samples.png [seed=0] "
    "[ema=true|false]\n"
    "(text runs print their decoded lines; out=FILE.txt also writes them; ema: the generator's weight average, "
    "by default when the checkpoint has one)\n"
    "class-conditional runs: labels=[3,3,5] (one class per sample) or per_class=8 (one row per class); "
    "InfoGAN runs: codes=0 [columns=8 span=2] (one row per categorical value, columns along continuous code 0)\n"
    "a run of your own objective, net or data set: config_dir=DIR, the config directory you trained it with"
)


def write_samples(samples: torch.Tensor, out: Path, nrow: int | None = None) -> Path:
    """Write samples by the file's suffix: .npy, .pt, or .png (image grid of `nrow` columns, square by
    default, or 2-d scatter)."""
    with writing(out, "samples file"):
        _write(samples, out, nrow)
    return out


def _write(samples: torch.Tensor, out: Path, nrow: int | None = None) -> None:
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
            nrow=nrow or int(math.ceil(math.sqrt(len(samples)))),
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


def _draw(cfg, ckpt_path: Path, num_samples_given: bool = False) -> tuple[torch.Tensor, int | None]:
    """The samples the command line asks for, and the grid's columns where it has rows (classes, codes).
    `num_samples_given`: num_samples= was on the command line (with labels= it must then agree)."""
    chosen = [k for k in ("labels", "per_class", "codes") if cfg[k] is not None]
    if len(chosen) > 1:
        raise UserInputError(f"give one of labels=, per_class= and codes=, not {' and '.join(chosen)}. {USAGE}")
    if num_samples_given and chosen and chosen[0] != "labels":  # the grid's size is its rows times its columns
        raise UserInputError(
            f"num_samples= does not apply with {chosen[0]}=: its grid has one row per "
            f"{'class' if chosen[0] == 'per_class' else 'value of the categorical code'} and "
            f"{'per_class' if chosen[0] == 'per_class' else 'columns'} images per row. Drop num_samples=."
        )
    if cfg.codes is not None:
        grid = traverse_codes(ckpt_path, int(cfg.codes), int(cfg.columns), float(cfg.span), int(cfg.seed), ema=cfg.ema)
        return grid, int(cfg.columns)
    if cfg.per_class is not None:
        labels = per_class_labels(ckpt_path, int(cfg.per_class))
        return sample(ckpt_path, len(labels), seed=int(cfg.seed), labels=labels, ema=cfg.ema), int(cfg.per_class)
    labels = None if cfg.labels is None else label_values(OmegaConf.to_object(cfg.labels))  # 1.5 is refused
    if labels is not None and num_samples_given and int(cfg.num_samples) != len(labels):
        raise UserInputError(
            f"num_samples={cfg.num_samples} and labels={show_labels(labels)} disagree: labels= gives one "
            f"class per sample, so it asks for {len(labels)} samples. Drop num_samples= (the count is then the "
            f"number of labels), or give {cfg.num_samples} labels."
        )
    num_samples = int(cfg.num_samples) if labels is None else len(labels)
    return sample(ckpt_path, num_samples, seed=int(cfg.seed), labels=labels, ema=cfg.ema), None


@entry_point
def main(argv: list[str]) -> int:
    """`python src/sample.py key=value ...`; errors end the process through wgangp.cli's boundary (exit 2)."""
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    cfg = OmegaConf.create(DEFAULTS)
    OmegaConf.set_struct(cfg, True)
    try:
        given = OmegaConf.from_dotlist(argv)
        cfg = OmegaConf.merge(cfg, given)
    except OmegaConfBaseException as err:
        raise UserInputError(f"{str(err).splitlines()[0]}. {' '.join(USAGE.splitlines())}") from err
    check_values(cfg, SAMPLE_RULES, "")
    ckpt_path = check_checkpoint_path(cfg)
    if cfg.config_dir is not None:
        trust_config_dir(cfg.config_dir)
    samples, nrow = _draw(cfg, ckpt_path, num_samples_given="num_samples" in given)
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
    out = write_samples(samples, Path(cfg.out or "samples.png"), nrow)
    print(f"wrote {len(samples)} samples of shape {tuple(samples.shape[1:])} to {out}")
    return 0


def console() -> None:
    """The `wgangp-sample` console script: `main` on the command line's arguments, its exit code."""
    sys.exit(main(sys.argv[1:]))
