"""Differentiable augmentation of what the critic sees: DiffAugment (Zhao et al. 2020) and ADA's adaptive p
(Karras et al. 2020). Pure functions of an image batch (N, C, H, W) and an explicit torch.Generator; no Lightning.

Every transform is applied to reals and fakes alike, in the critic step and the generator step, and is
differentiable with respect to the images, so the generator's gradient flows through it (Zhao et al. 2020, Sec. 3).

    from wgangp.augment import augment, AdaptiveAugment
    x_aug = augment(x, "color,translation,cutout", rng)             # DiffAugment: always applied
    x_aug = augment(x, "color,translation,cutout", rng, p=ada.p)    # ADA: each transform w.p. p per sample
    ada.update(d_real)                                              # once per critic step

Randomness: all draws come from `rng` in a fixed order that depends only on the policy and the batch size (never
on p or the images), so a run that recreates the generator from (seed, step) redraws identical augmentations on
resume. Draws are made on rng's device and moved to the images' device: pass a generator on the images' device to
keep everything there; a CPU generator makes the draws the same on every device.

Per sample: `draw_augment` draws one row of parameters per sample and `apply_augment` transforms sample i with row
i only (brightness, saturation and contrast use sample i's own means), so augmenting a batch equals augmenting each
sample alone with its own row of draws (`AugmentDraws.rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

DEFAULT_POLICY = "color,translation,cutout"  # Zhao et al. 2020: Color + Translation + Cutout, their strongest

# Policy names -> elementary transforms, in the order they are applied (Zhao et al. 2020, Sec. 3 and their
# reference code: color = brightness, saturation, contrast).
_PARTS = {
    "color": ("brightness", "saturation", "contrast"),
    "brightness": ("brightness",),
    "saturation": ("saturation",),
    "contrast": ("contrast",),
    "translation": ("translation",),
    "cutout": ("cutout",),
}


def parse_policy(policy: str | Sequence[str]) -> tuple[str, ...]:
    """The elementary transforms of `policy`, in order: "color,translation,cutout" or ("color", "cutout").

    Names: color (= brightness, saturation, contrast), brightness, saturation, contrast, translation, cutout.
    An empty policy ("" or ()) is the identity."""
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in _PARTS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown} in policy {policy!r}; known: {sorted(_PARTS)}")
    return tuple(t for n in names for t in _PARTS[n])


# ---- the elementary transforms: deterministic given their per-sample parameters --------------------------------


def _per_sample(v: Tensor, x: Tensor) -> Tensor:
    return v.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)  # (N,) -> (N,1,1,1)


def brightness(x: Tensor, shift: Tensor) -> Tensor:
    """x + b_i on every pixel and channel of sample i; shift (N,)."""
    return x + _per_sample(shift, x)


def saturation(x: Tensor, scale: Tensor) -> Tensor:
    """Scale each pixel's deviation from its mean over channels by s_i: (x - m) s_i + m, m (N,1,H,W); scale (N,).
    With one channel a pixel is its own mean, so this is the identity."""
    m = x.mean(dim=1, keepdim=True)
    return (x - m) * _per_sample(scale, x) + m


def contrast(x: Tensor, scale: Tensor) -> Tensor:
    """Scale each sample's deviation from its mean over (C, H, W) by c_i: (x - m) c_i + m, m (N,1,1,1)."""
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - m) * _per_sample(scale, x) + m


def translate(x: Tensor, shift: Tensor) -> Tensor:
    """Move sample i's content by shift[i] = (dy, dx) whole pixels, zero-filled:
    out[i, :, r, c] = x[i, :, r - dy, c - dx], or 0 where that lies outside the image. shift (N, 2) integers.

    A gather: the gradient is the inverse shift of the output's gradient (a permutation on the kept pixels)."""
    n, ch, h, w = x.shape
    shift = shift.to(x.device)
    rows = torch.arange(h, device=x.device) - shift[:, :1]  # (N, H): source row of each output row
    cols = torch.arange(w, device=x.device) - shift[:, 1:]  # (N, W)
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (N, H, W)
    index = rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]  # (N, H, W) into H*W
    moved = x.reshape(n, ch, h * w).gather(2, index.reshape(n, 1, h * w).expand(n, ch, h * w))
    return torch.where(inside[:, None], moved.view(n, ch, h, w), x.new_zeros(()))


def cutout(x: Tensor, box: Tensor) -> Tensor:
    """Zero rows [top, bottom) and columns [left, right) of sample i, box[i] = (top, left, bottom, right); the part
    of the box outside the image is ignored. box (N, 4) integers. The gradient is the output's, masked."""
    h, w = x.shape[-2:]
    box = box.to(x.device)
    r = torch.arange(h, device=x.device)
    c = torch.arange(w, device=x.device)
    in_rows = (r >= box[:, 0:1]) & (r < box[:, 2:3])  # (N, H)
    in_cols = (c >= box[:, 1:2]) & (c < box[:, 3:4])  # (N, W)
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # (N, H, W)
    return torch.where(hole[:, None], x.new_zeros(()), x)


# ---- draws ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentDraws:
    """One batch's random draws: every tensor has one row per sample.

    transforms: elementary transforms in the order applied. params: transform -> its parameters, brightness
    (N,) in [-0.5, 0.5), saturation (N,) in [0, 2), contrast (N,) in [0.5, 1.5), translation (N, 2) = (dy, dx),
    cutout (N, 4) = (top, left, bottom, right). applied: transform -> (N,) bool, which samples get it (ADA), or
    None when every sample gets every transform (DiffAugment)."""

    transforms: tuple[str, ...]
    params: dict[str, Tensor]
    applied: dict[str, Tensor] | None = None

    def rows(self, index: int | slice | Tensor) -> AugmentDraws:
        """The draws of the samples `index` selects (an int keeps its row as a batch of one)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        pick = lambda d: {k: v[index] for k, v in d.items()}
        return AugmentDraws(self.transforms, pick(self.params), None if self.applied is None else pick(self.applied))


def draw_augment(
    policy: str | Sequence[str],
    batch_size: int,
    height: int,
    width: int,
    rng: torch.Generator,
    p: Tensor | float | None = None,
    *,
    device: torch.device | str | None = None,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
) -> AugmentDraws:
    """Draw the parameters of `policy` for `batch_size` images of height x width from `rng`, per sample.

    Ranges (Zhao et al. 2020, Sec. 3, and their reference code): brightness b ~ U[-0.5, 0.5); saturation
    s ~ U[0, 2); contrast c ~ U[0.5, 1.5); translation dy, dx uniform integers in [-t, t], t = round(ratio * size)
    (1/8 of the image, 4 pixels at 32); cutout a square of round(ratio * size) (half the image), its centre a
    uniform pixel (for even sizes up to one past the last), so it may hang over an edge, as in Cutout (DeVries and
    Taylor 2017). With p (a tensor or float in [0, 1]) each transform is also applied to each sample with
    probability p, one U[0, 1) draw per sample and transform (Karras et al. 2020, Sec. 2.2), drawn after all the
    parameters; p=None applies all, and so does p = 1 with the same parameters.

    Uniform floats are drawn in float32 whatever the image dtype, so a draw is the same under any precision.
    The result lives on `device` (default: rng's device)."""
    transforms = parse_policy(policy)
    n, gen_device = batch_size, rng.device
    device = gen_device if device is None else torch.device(device)
    uniform = lambda *shape: torch.rand(*shape, generator=rng, device=gen_device).to(device)
    integers = lambda lo, hi: torch.randint(lo, hi, (n,), generator=rng, device=gen_device).to(device)
    params: dict[str, Tensor] = {}
    for t in transforms:
        if t == "brightness":
            params[t] = uniform(n) - 0.5
        elif t == "saturation":
            params[t] = uniform(n) * 2
        elif t == "contrast":
            params[t] = uniform(n) + 0.5
        elif t == "translation":
            ty, tx = int(height * translation_ratio + 0.5), int(width * translation_ratio + 0.5)
            params[t] = torch.stack([integers(-ty, ty + 1), integers(-tx, tx + 1)], dim=1)  # (N, 2)
        elif t == "cutout":
            sy, sx = int(height * cutout_ratio + 0.5), int(width * cutout_ratio + 0.5)
            # centre in [0, size - (s mod 2)]: the square overhangs each edge by at most half its side
            top = integers(0, height + 1 - sy % 2) - sy // 2
            left = integers(0, width + 1 - sx % 2) - sx // 2
            params[t] = torch.stack([top, left, top + sy, left + sx], dim=1)  # (N, 4)
    if p is None:
        return AugmentDraws(transforms, params)
    # Drawn after the parameters, so with p = 1 a seed gives exactly what DiffAugment (p=None) gives.
    # Karras et al. 2020, Sec. 2.2: each transform is applied to each sample with probability p.
    p = torch.as_tensor(p, dtype=torch.float32).to(device)
    applied = {t: uniform(n) < p for t in transforms}  # (N,) bool each
    return AugmentDraws(transforms, params, applied)


def apply_augment(x: Tensor, draws: AugmentDraws) -> Tensor:
    """Transform x (N, C, H, W) with `draws` (rows for the same N); differentiable with respect to x.
    A sample a transform skips keeps its value exactly (a select, not a blend)."""
    if x.dim() != 4:
        raise ValueError(f"augmentation expects an image batch (N, C, H, W), got shape {tuple(x.shape)}")
    for t in draws.transforms:
        v = draws.params[t]
        if t == "brightness":
            y = brightness(x, v)
        elif t == "saturation":
            y = saturation(x, v)
        elif t == "contrast":
            y = contrast(x, v)
        elif t == "translation":
            y = translate(x, v)
        else:
            y = cutout(x, v)
        x = y if draws.applied is None else torch.where(draws.applied[t].to(x.device).view(-1, 1, 1, 1), y, x)
    return x


def augment(
    x: Tensor,
    policy: str | Sequence[str],
    rng: torch.Generator,
    p: Tensor | float | None = None,
    *,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
) -> Tensor:
    """Augment an image batch x (N, C, H, W) for the critic: DiffAugment when p is None (every transform of
    `policy` on every sample, Zhao et al. 2020), ADA-style when p is given (each transform on each sample with
    probability p, Karras et al. 2020). Shape and dtype are kept; differentiable with respect to x."""
    n, _, h, w = x.shape
    draws = draw_augment(
        policy, n, h, w, rng, p, device=x.device, translation_ratio=translation_ratio, cutout_ratio=cutout_ratio
    )
    return apply_augment(x, draws)


class AdaptiveAugment:
    """ADA's controller of the augmentation probability p (Karras et al. 2020, Sec. 3).

    The overfitting heuristic r_t = E[sign(D(x_real))] is accumulated over `interval` critic steps (the paper
    adjusts p every 4 minibatches); then p moves by sign(r_t - target) * images / (ada_kimg * 1000), images being
    the real outputs seen in the interval (batch_size * interval), so p can cross [0, 1] in ada_kimg thousand
    images (500k in the paper), and is clamped to [0, 1]. r_t above the target (0.6) means the critic is too sure
    of the reals, so p rises.

    The augmentations p drives here are this module's differentiable colour, translation and cutout, each applied
    with probability p per sample: a simplification of ADA's pipeline of 18 transforms (blit, geometric, colour,
    filtering, corruption), which this module does not implement.

    Accumulators stay tensors on d_real's device, so update() never waits for the device; under DDP, feed
    update() the real outputs gathered from all ranks, so that every rank holds the same p.
    """

    def __init__(self, target: float = 0.6, interval: int = 4, ada_kimg: float = 500.0, p: float = 0.0):
        if interval < 1 or ada_kimg <= 0:
            raise ValueError(f"ADA needs interval >= 1 and ada_kimg > 0, got interval={interval}, ada_kimg={ada_kimg}")
        self.target, self.interval, self.ada_kimg = float(target), int(interval), float(ada_kimg)
        self._p = torch.tensor(float(p))
        self._sign_sum = torch.zeros(())  # sum of sign(D(x_real)) in the current interval
        self._count = 0  # real outputs in the current interval (host ints: numel needs no sync)
        self._steps = 0  # critic steps in the current interval
        self.rt: Tensor | None = None  # the last interval's r_t, for logging

    @property
    def p(self) -> Tensor:
        """The current probability, a 0-dim float32 tensor (on the device of the last update)."""
        return self._p

    def update(self, d_real: Tensor) -> None:
        """Count one critic step's outputs on real images, (N,) or (N, 1) logits, one per image; every `interval`
        calls, adjust p (Karras et al. 2020, Sec. 3)."""
        signs = d_real.detach().reshape(-1).sign().float()
        self._sign_sum = self._sign_sum.to(signs.device) + signs.sum()
        self._count += signs.numel()
        self._steps += 1
        if self._steps < self.interval:
            return
        rt = self._sign_sum / self._count
        step = self._count / (self.ada_kimg * 1000)  # batch_size * interval / (ada_kimg * 1000)
        self._p = (self._p.to(rt.device) + torch.sign(rt - self.target) * step).clamp(0.0, 1.0)
        self.rt = rt
        self._sign_sum, self._count, self._steps = torch.zeros((), device=rt.device), 0, 0

    def to(self, device: torch.device | str) -> AdaptiveAugment:
        """Move p and the interval's accumulator to `device` (where the critic's scores are)."""
        self._p, self._sign_sum = self._p.to(device), self._sign_sum.to(device)
        return self

    def state_dict(self) -> dict[str, Tensor | int]:
        """p and the part-filled interval's accumulators: tensors and ints only (loads with weights_only=True)."""
        return {
            "p": self._p.detach().clone(),
            "sign_sum": self._sign_sum.detach().clone(),
            "count": self._count,
            "steps": self._steps,
        }

    def load_state_dict(self, state: dict[str, Tensor | int]) -> None:
        """Restore what state_dict() returned, so a resumed run continues the interval it was in."""
        self._p = torch.as_tensor(state["p"], dtype=torch.float32).detach().clone()
        self._sign_sum = torch.as_tensor(state["sign_sum"], dtype=torch.float32).detach().clone()
        self._count, self._steps = int(state["count"]), int(state["steps"])
