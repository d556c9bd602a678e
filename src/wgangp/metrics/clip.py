"""CLIP-FD: the metrics of FID, KID and the k-NN measures in the feature space of CLIP's image embedding (FD_CLIP of
Kynkaanniemi et al. 2023, "The Role of ImageNet Classes in Frechet Inception Distance"; clean-fid's CLIP-FID).

The feature space is torch-fidelity's `clip-*` extractor, run as it is: 8-bit images resized to the model's input
size with its TF1-compatible bilinear interpolation, CLIP's mean/std normalisation, the visual tower's projected
embedding. torch-fidelity reads OpenAI's released file from a local path itself (`feature_extractor_weights_path`,
a TorchScript archive: torch.jit.load, of which only the state dict is used; no code of the file is run).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from wgangp.errors import UserInputError
from wgangp.metrics.features import require_weights, uint8_rgb


def _clip_module():
    try:
        import torch_fidelity.feature_extractor_clip as clip
    except ImportError as e:
        raise UserInputError(
            "metrics=clip needs torch-fidelity 0.4 or later (its CLIP extractor): pip install -U torch-fidelity."
        ) from e
    return clip


def clip_models() -> tuple[str, ...]:
    """torch-fidelity's CLIP extractors: clip-rn50, ..., clip-vit-b-32, clip-vit-b-16, clip-vit-l-14, ..."""
    return tuple(_clip_module().MODEL_URLS)


def clip_url(model: str) -> str:
    """OpenAI's file of `model` (torch-fidelity's MODEL_URLS)."""
    return _clip_module().MODEL_URLS[model]


def default_clip_weights(model: str) -> Path:
    """Where torch-fidelity's CLIP saves its download (torch hub's checkpoints folder, `<model>-<sha256>.pt`), so a
    machine that ran it once has the file there."""
    digest = _clip_module().MODEL_METADATA[model]["hash"]
    return Path(torch.hub.get_dir()) / "checkpoints" / f"{model}-{digest}.pt"


class CLIPFeatures(nn.Module):
    """torch-fidelity's CLIP feature extractor: pool (N, E), the image embedding; no logits (no Inception Score).

    Args:
        model: torch-fidelity's name (`clip_models()`); clip-vit-b-32 (E = 512) is clean-fid's CLIP-FID model.
        weights_path: OpenAI's released file (ViT-B-32.pt for clip-vit-b-32); None looks where torch-fidelity keeps
            its download (`default_clip_weights(model)`). Nothing is downloaded: a missing file is an error that names
            the URL and where to put it.
    """

    def __init__(self, model: str = "clip-vit-b-32", weights_path: str | Path | None = None) -> None:
        super().__init__()
        models = clip_models()
        if model not in models:
            raise UserInputError(f"metrics.extractor.model={model!r} is not one of {', '.join(models)}.")
        self.name = model  # keys the cached real statistics
        path = require_weights(
            weights_path, default_clip_weights(model), f"CLIP ({model})", clip_url(model), "clip_weights",
            "WGANGP_CLIP_WEIGHTS", stops_training=True,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=FutureWarning)
            try:
                self.net = _clip_module().FeatureExtractorCLIP(
                    model, ["clip"], feature_extractor_weights_path=str(path)
                )
            except (RuntimeError, ValueError, KeyError) as e:
                reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise UserInputError(
                    f"{path} is not OpenAI's released CLIP file for {model} ({reason[:300]}): download "
                    f"{clip_url(model)} again, or name the model it is for (metrics.extractor.model=...)."
                ) from e
        self.net.eval()

    @torch.no_grad()
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """images (N, C, H, W) in [-1, 1], C = 1 or 3 -> {"pool": (N, E)}."""
        (pool,) = self.net(uint8_rgb(images))
        return {"pool": pool.float()}
