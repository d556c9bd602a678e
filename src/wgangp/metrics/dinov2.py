"""FD-DINOv2 (Stein et al. 2023, "Exposing flaws of generative model evaluation metrics"): the metrics of FID, KID
and the k-NN measures in the feature space of DINOv2's CLS token instead of Inception's pool layer.

The feature space is torch-fidelity's `dinov2-vit-*-14` extractor: 8-bit images resized to 224x224 with its
TF1-compatible bilinear interpolation, ImageNet mean/std normalisation, the ViT's final-norm CLS token. torch-fidelity
0.4 builds the ViT only through torch.hub (a clone of facebookresearch/dinov2 and a download of the weights) and
refuses a local weights file, so the ViT is built here, `DinoViT`: the inference path of dinov2's
DinoVisionTransformer (models/vision_transformer.py, layers/; Apache-2.0) with the same module names, so the
released `dinov2_vit*14_pretrain.pth` state dicts load strictly and with `weights_only=True`. The rest is
torch-fidelity's own code: `DINOv2Features` runs its FeatureExtractorDinoV2.forward on this ViT.
"""

from __future__ import annotations

import pickle
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wgangp.errors import UserInputError
from wgangp.metrics.features import require_weights, uint8_rgb

DINOV2_BASE_URL = "https://dl.fbaipublicfiles.com/dinov2"
# torch-fidelity's names -> (dinov2's hub name, width, depth, heads, feed-forward); the feature is `width` wide
ARCHS = {
    "dinov2-vit-s-14": ("dinov2_vits14", 384, 12, 6, "mlp"),
    "dinov2-vit-b-14": ("dinov2_vitb14", 768, 12, 12, "mlp"),
    "dinov2-vit-l-14": ("dinov2_vitl14", 1024, 24, 16, "mlp"),
    "dinov2-vit-g-14": ("dinov2_vitg14", 1536, 40, 24, "swiglu"),
}


def dinov2_url(model: str) -> str:
    """Where the released weights of torch-fidelity's `model` are (dinov2's hub/backbones.py)."""
    hub_name = ARCHS[model][0]
    return f"{DINOV2_BASE_URL}/{hub_name}/{hub_name}_pretrain.pth"


def default_dinov2_weights(model: str) -> Path:
    """Where torch.hub saves them (and torch-fidelity's DINOv2 finds them): torch hub's checkpoints folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(dinov2_url(model)).name


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).unbind(2)  # each (B, N, heads, c/heads)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _SwiGLU(nn.Module):
    """ViT-g's feed-forward (dinov2's SwiGLUFFNFused): hidden width 2/3 of 4 * dim, rounded up to a multiple of 8."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        hidden = (int(4 * dim * 2 / 3) + 7) // 8 * 8
        self.w12, self.w3 = nn.Linear(dim, 2 * hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


class _LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, ffn: str) -> None:
        super().__init__()
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.norm1, self.attn, self.ls1 = norm(dim), _Attention(dim, heads), _LayerScale(dim)
        self.norm2, self.ls2 = norm(dim), _LayerScale(dim)
        self.mlp = _SwiGLU(dim) if ffn == "swiglu" else _Mlp(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class _PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, H/14 * W/14, dim)


class DinoViT(nn.Module):
    """DINOv2's ViT/14 at inference (dinov2_vit{s,b,l,g}14 of its torch hub, no register tokens): images
    (N, 3, H, W), H and W multiples of 14, normalised -> the final-norm CLS token (N, width), what
    DinoVisionTransformer.forward returns. Trained at 518x518 (a 37x37 grid of position embeddings), interpolated
    to other grids as dinov2 does (bicubic, scale factor (grid + 0.1) / 37, no antialiasing)."""

    patch = 14
    train_grid = 37  # 518 / 14
    interpolate_offset = 0.1  # dinov2's "historical kludge" (facebookresearch/dino#8), kept by its hub models

    def __init__(self, width: int, depth: int, heads: int, ffn: str = "mlp") -> None:
        super().__init__()
        self.width = width
        self.patch_embed = _PatchEmbed(width, self.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.train_grid**2, width))
        self.mask_token = nn.Parameter(torch.zeros(1, width))  # training only; in the released state dicts
        self.blocks = nn.ModuleList(_Block(width, heads, ffn) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)

    @classmethod
    def of(cls, model: str) -> DinoViT:
        """The architecture of torch-fidelity's `model` (a key of ARCHS), randomly initialised."""
        _, width, depth, heads, ffn = ARCHS[model]
        return cls(width, depth, heads, ffn)

    def position_embedding(self, h: int, w: int) -> Tensor:
        """(1, 1 + (h/14)(w/14), width): the CLS position and the patch grid's, interpolated from the 37x37 grid."""
        gh, gw = h // self.patch, w // self.patch
        if (gh, gw) == (self.train_grid, self.train_grid):
            return self.pos_embed
        pos = self.pos_embed.float()
        m, dim = self.train_grid, pos.size(-1)
        grid = pos[:, 1:].reshape(1, m, m, dim).permute(0, 3, 1, 2)  # (1, dim, 37, 37)
        scale = ((gh + self.interpolate_offset) / m, (gw + self.interpolate_offset) / m)
        grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=False)
        assert grid.shape[-2:] == (gh, gw), grid.shape
        patches = grid.permute(0, 2, 3, 1).reshape(1, gh * gw, dim)
        return torch.cat([pos[:, :1], patches], dim=1).to(self.pos_embed.dtype)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        tokens = self.patch_embed(x)  # (N, P, width)
        tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1)
        tokens = tokens + self.position_embedding(h, w)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]  # the CLS token, (N, width)


def _torch_fidelity_dinov2(name: str, vit: DinoViT) -> nn.Module:
    """torch-fidelity's FeatureExtractorDinoV2 holding `vit`: its forward (resize, normalisation, ViT) unchanged.
    Its constructor would load the ViT through torch.hub (GitHub and a download), so it is not run: the object gets
    what that constructor sets (FeatureExtractorBase's name and feature list, the internal dtype, the model)."""
    try:
        from torch_fidelity.feature_extractor_base import FeatureExtractorBase
        from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2
    except ImportError as e:
        raise UserInputError(
            "metrics=dinov2 needs torch-fidelity 0.4 or later (its DINOv2 extractor): pip install -U torch-fidelity."
        ) from e
    net = FeatureExtractorDinoV2.__new__(FeatureExtractorDinoV2)
    FeatureExtractorBase.__init__(net, name, ["dinov2"])
    net.feature_extractor_internal_dtype = torch.float32
    net.model = vit
    return net.requires_grad_(False).eval()


class DINOv2Features(nn.Module):
    """torch-fidelity's DINOv2 feature extractor: pool (N, width) = the CLS token; no logits (no Inception Score).

    Args:
        model: torch-fidelity's name, dinov2-vit-{s,b,l,g}-14 (feature width 384, 768, 1024, 1536); Stein et al.
            2023 score with ViT-L/14.
        weights_path: the released state dict (dinov2_vitl14_pretrain.pth for ViT-L/14); None looks where torch.hub
            keeps it (`default_dinov2_weights(model)`). Nothing is downloaded: a missing file is an error that names
            the URL and where to put it.
    """

    def __init__(self, model: str = "dinov2-vit-l-14", weights_path: str | Path | None = None) -> None:
        super().__init__()
        if model not in ARCHS:
            raise UserInputError(f"metrics.extractor.model={model!r} is not one of {', '.join(ARCHS)}.")
        self.name = model  # keys the cached real statistics
        path = require_weights(
            weights_path, default_dinov2_weights(model), f"DINOv2 ({model})", dinov2_url(model), "dinov2_weights",
            "WGANGP_DINOV2_WEIGHTS", stops_training=True,
        )  # fmt: skip
        with torch.device("meta"):  # no random initialisation of what the file replaces (ViT-L: 304M parameters)
            vit = DinoViT.of(model)
        try:  # a state dict of tensors: nothing in the file chooses code
            vit.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), assign=True)
        except (RuntimeError, ValueError, TypeError, AttributeError, EOFError, pickle.UnpicklingError) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserInputError(
                f"{path} is not the released state dict of {model}'s ViT ({reason[:300]}): download "
                f"{dinov2_url(model)} again, or name the model it is for (metrics.extractor.model=...)."
            ) from e
        self.net = _torch_fidelity_dinov2(model, vit.float())  # torch-fidelity runs it in float32

    @torch.no_grad()
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """images (N, C, H, W) in [-1, 1], C = 1 or 3 -> {"pool": (N, width)}."""
        (pool,) = self.net(uint8_rgb(images))
        return {"pool": pool.float()}
