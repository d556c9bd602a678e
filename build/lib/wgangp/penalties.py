"""Gradient penalties as pure functions: no Lightning, usable in any training loop.

from wgangp.penalties import gradient_penalty
loss_d = d_fake.mean() - d_real.mean() + 10.0 * gradient_penalty(critic, real, fake)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Critic = Callable[[Tensor], Tensor]


def _check_batch(x: Tensor, name: str, where: str) -> None:
    """Refuse what no penalty can use: a non-tensor, integer or bool values (no gradient), no batch dimension,
    an empty batch. Shape and dtype only: nothing here reads the values (no host sync on the training path)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: {name} must be a torch.Tensor of shape (N, ...), got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(
            f"{where}: {name} has dtype {x.dtype}, but a gradient needs floating-point tensors; pass "
            f"{name}.float() (or the dtype the critic runs in)."
        )
    if x.dim() == 0:
        raise ValueError(
            f"{where}: {name} is a 0-d tensor, but it must be a batch of shape (N, ...) with one sample per row; "
            f"use {name}.reshape(1) for a single scalar sample."
        )
    if x.size(0) == 0:
        raise ValueError(
            f"{where}: the batch is empty ({name} has shape {tuple(x.shape)}), so there is no mean to take; "
            "pass at least one sample."
        )


def _check_scores(out: Tensor, n: int) -> None:
    """A critic gives one score per sample: (N,) or (N, 1); anything else would be silently summed."""
    if not isinstance(out, Tensor):
        raise TypeError(f"the critic must return a tensor of scores of shape ({n},), got {type(out).__name__}.")
    if tuple(out.shape) not in ((n,), (n, 1)):
        raise ValueError(
            f"the critic returned scores of shape {tuple(out.shape)} for a batch of {n} samples, but a critic must "
            f"give one score per sample: shape ({n},) or ({n}, 1). Select the Wasserstein score (e.g. out[:, 0]) "
            "or pass a critic that returns one."
        )


def interpolate(real: Tensor, fake: Tensor, eps: Tensor | None = None) -> Tensor:
    """Points on straight lines between paired real and fake samples (paper Sec. 4, Alg. 1 l.6).

    `eps` holds one weight per sample, shape (N,), drawn U[0, 1] when None; it is broadcast over
    every other dimension, so x_hat_i = eps_i * real_i + (1 - eps_i) * fake_i for any input shape.
    """
    _check_batch(real, "real", "interpolate")
    _check_batch(fake, "fake", "interpolate")
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if eps is None:
        eps = torch.rand(real.size(0), device=real.device)
    elif not isinstance(eps, Tensor):
        eps = torch.as_tensor(eps, dtype=torch.float32, device=real.device)
    if not eps.is_floating_point():
        raise TypeError(f"eps must hold floating-point weights in [0, 1], got dtype {eps.dtype}.")
    if eps.shape != (real.size(0),):
        raise ValueError(f"eps must have shape ({real.size(0)},): one weight per sample, got {tuple(eps.shape)}")
    dtype = torch.promote_types(real.dtype, fake.dtype)  # under autocast G may return bf16 next to fp32 data
    eps = eps.to(dtype).view(-1, *[1] * (real.dim() - 1))  # (N,1,...,1)
    return torch.lerp(fake.to(dtype), real.to(dtype), eps)  # eps*real + (1-eps)*fake


def input_gradient_norms(critic: Critic, x: Tensor, grad_scale: Tensor | float | None = None) -> Tensor:
    """Per-sample L2 norms ||grad_x D(x)_i||_2, shape (N,), with the graph kept for double backward.

    The norm is taken per sample over all non-batch dimensions and in fp32 (a bf16 norm loses the
    small deviations from 1 the penalty is about). Where a gradient is exactly zero the result is
    ~0 and its own gradient is 0, not NaN: d||g||/dg = g/||g|| is undefined there. `grad_scale`: see
    `squared_gradient_norms` (fp16 training only).
    """
    _check_batch(x, "x", "input_gradient_norms")
    x = x.detach().requires_grad_(True)
    sq = squared_gradient_norms(critic(x), x, grad_scale)
    return sq.clamp_min(torch.finfo(sq.dtype).tiny).sqrt()


def squared_gradient_norms(out: Tensor, x: Tensor, grad_scale: Tensor | float | None = None) -> Tensor:
    """||grad_x out_i||_2^2 per sample, shape (N,), in fp32, with the graph kept for double backward.

    `out` (N,) or (N, 1) must have been computed from `x` (which requires grad). Each output depends
    only on its own input (no batch norm in a penalised critic, Sec. 4), so the gradient of the sum
    w.r.t. x_i is the gradient of out_i.

    grad_scale: the loss scale S of fp16 mixed precision (a GradScaler's current scale, a tensor so
    reading it needs no host sync). The input gradient is then taken of S * sum(out), so the fp16
    backward does not underflow, and divided by S in fp32 before the norm, as PyTorch's AMP notes
    prescribe for gradient penalties. The result does not depend on S (up to fp16 overflow, which
    makes it inf and lets the scaler skip the step and lower S).
    """
    _check_batch(x, "x", "squared_gradient_norms")
    _check_scores(out, x.size(0))
    total = out.sum()
    if grad_scale is not None:
        total = total.float() * grad_scale
    (grad,) = torch.autograd.grad(total, x, create_graph=True)
    grad = grad.float()  # (N, ...) fp32 from here on: the norm and its deviation from 1 need the precision
    if grad_scale is not None:
        grad = grad / grad_scale
    return grad.reshape(grad.size(0), -1).pow(2).sum(1)  # (N,) inputs: one element per sample, |dD/dx|^2


def penalty_from_norms(norms: Tensor, one_sided: bool = False) -> Tensor:
    """Mean of (||g|| - 1)^2, or of max(0, ||g|| - 1)^2 when one_sided (paper Eq. 3, App. C)."""
    excess = norms - 1.0
    if one_sided:
        excess = excess.clamp_min(0.0)
    return excess.pow(2).mean()


PENALTY_WEIGHT_SCHEDULES = ("constant", "adaptive")


def penalty_weight(
    penalty: Tensor, schedule: str = "constant", weight: float = 10.0, max_weight: float = 10.0
) -> Tensor:
    """The lambda multiplying a penalty: `weight` ("constant"), or the R1 note's dynamic scaling
    ("adaptive" Example 3): lambda = clip(penalty, 0, max_weight), the penalty's own
    current value, as a 0-d tensor (no host sync).

    The adaptive lambda is detached (a stop-gradient): the loss lambda * penalty then has the gradient
    lambda * d(penalty), the penalty's own direction with weight lambda, which is what `train/gp_weight`
    reports. Differentiating through lambda instead would train penalty^2 below the cap, gradient
    2 * penalty * d(penalty): an effective weight of twice the logged one, halving at the cap.
    """
    if schedule == "constant":
        return torch.as_tensor(float(weight), device=penalty.device)
    if schedule == "adaptive":
        return penalty.detach().clamp(0.0, float(max_weight))
    raise ValueError(f"unknown penalty weight schedule {schedule!r}; choose one of {PENALTY_WEIGHT_SCHEDULES}")


def gradient_penalty(
    critic: Critic,
    real: Tensor,
    fake: Tensor,
    eps: Tensor | None = None,
    one_sided: bool = False,
    grad_scale: Tensor | float | None = None,
) -> Tensor:
    """E[(||grad D(x_hat)||_2 - 1)^2] over real/fake interpolates (paper Eq. 3), not multiplied by lambda.

    real, fake: (N, ...) floating-point tensors of the same shape, N >= 1 ((N,): one scalar per sample, whose
    gradient norm is |dD/dx|); eps: optional (N,) interpolation weights in [0, 1], U[0, 1] when None. The
    critic must give one score per sample, (N,) or (N, 1); anything else is a ValueError naming its shape.
    With one_sided=True it is E[max(0, ||grad|| - 1)^2] (App. C). The result keeps the graph, so
    `.backward()` reaches the critic's parameters through the double backward. `grad_scale`: the fp16
    loss scale (see `squared_gradient_norms`); None in fp32 and bf16.
    """
    _check_batch(real, "real", "gradient_penalty")
    _check_batch(fake, "fake", "gradient_penalty")
    if eps is not None:  # the caller's weights (a host sync): the loop draws its own in [0, 1) and never comes here
        if not isinstance(eps, Tensor):
            eps = torch.as_tensor(eps, dtype=torch.float32, device=real.device)
        if eps.is_floating_point() and not bool(((eps >= 0) & (eps <= 1)).all()):  # NaN fails too
            raise ValueError(
                f"eps must hold interpolation weights in [0, 1] (x_hat = eps * real + (1 - eps) * fake, Alg. 1 "
                f"l.6); got values from {eps.min().item():g} to {eps.max().item():g}: weights outside [0, 1] "
                "extrapolate beyond the segment between real and fake. Draw eps with torch.rand(N) or leave it None."
            )
    x_hat = interpolate(real.detach(), fake.detach(), eps)  # Alg. 1 l.6
    return penalty_from_norms(input_gradient_norms(critic, x_hat, grad_scale), one_sided=one_sided)


def r1_penalty(critic: Critic, real: Tensor, grad_scale: Tensor | float | None = None) -> Tensor:
    """E_real[||grad_x D(x)||_2^2]: the zero-centred R1 regulariser on real data only, not multiplied
    by gamma / 2. Keeps the graph for the double backward; `grad_scale` as in `squared_gradient_norms`."""
    _check_batch(real, "real", "r1_penalty")
    x = real.detach().requires_grad_(True)
    return squared_gradient_norms(critic(x), x, grad_scale).mean()
