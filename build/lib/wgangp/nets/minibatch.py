"""Minibatch features for a critic (`model.critic.minibatch`): layers that let each score see the batch.

- discrimination (Salimans et al. 2016, Sec. 3.2; the lecture notes' "minibatch features"): features
  f (N, A) times a learned tensor T (A, B, C) give M_i (B, C); c_b(i, j) = exp(-||M_i,b - M_j,b||_1), and
  o(f_i)_b = sum_j c_b(i, j) (j over the whole batch, i included, as the paper's sum) is appended: (N, A + B).
- stddev (Karras et al. 2018, Sec. 3): the standard deviation of every feature over the batch, averaged
  into one number, appended as one more feature map (N, C + 1, H, W) or feature (N, F + 1).

Both make each sample's score depend on the rest of its batch, which is their point (a collapsed batch
looks different from a real one) and which breaks the gradient penalty: the penalty constrains the
gradient of each sample's own score w.r.t. that sample (Sec. 4, "No critic batch normalization"), and a
batch-coupled critic has no such per-sample function. A critic with minibatch features under a penalised
objective is therefore refused (`check_minibatch`), as batch norm is replaced there: holding the batch
statistics fixed during the penalty's forward would penalise a different function from the one trained.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

MINIBATCH = ("none", "discrimination", "stddev")


class MinibatchDiscrimination(nn.Module):
    """(N, A) -> (N, A + kernels): the features and their minibatch similarities o(f_i) (Salimans et al. 2016).

    The pairwise distances cost kernels * N^2 numbers, so in eval mode an input of more than `max_batch`
    rows (an evaluator's grid of 128 x 128 points) is scored in consecutive batches of `max_batch`, each
    its own minibatch. Training batches are never split.
    """

    max_batch = 256

    def __init__(self, in_features: int, kernels: int = 50, kernel_dim: int = 5) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = int(kernels), int(kernel_dim)
        # T (A, B * C); N(0, 0.05^2) as the released improved-GAN code's initialisation scale
        self.T = nn.Parameter(0.05 * torch.randn(in_features, self.kernels * self.kernel_dim))

    def forward(self, f: Tensor) -> Tensor:
        if not self.training and f.size(0) > self.max_batch:
            return torch.cat([self(chunk) for chunk in f.split(self.max_batch)])
        m = (f @ self.T).view(-1, self.kernels, self.kernel_dim).transpose(0, 1)  # (B, N, C)
        l1 = torch.cdist(m, m, p=1)  # (B, N, N): ||M_i,b - M_j,b||_1
        o = torch.exp(-l1).sum(2).transpose(0, 1)  # (N, B)
        return torch.cat([f, o.to(f.dtype)], dim=1)


class MinibatchStdDev(nn.Module):
    """(N, C, ...) -> (N, C + 1, ...): the batch's mean feature standard deviation as one more channel
    (Karras et al. 2018)."""

    def forward(self, x: Tensor) -> Tensor:
        s = (x.float().var(0, unbiased=False) + 1e-8).sqrt().mean()  # one number for the whole batch
        return torch.cat([x, s.to(x.dtype).expand(x.size(0), 1, *x.shape[2:])], dim=1)


def check_minibatch(kind: str, uses_penalty: bool) -> None:
    """ValueError for an unknown kind, and for minibatch features under a gradient penalty (Sec. 4)."""
    if kind not in MINIBATCH:
        raise ValueError(f"unknown model.critic.minibatch={kind!r}; choose one of {MINIBATCH}")
    if kind != "none" and uses_penalty:
        raise ValueError(
            f"model.critic.minibatch={kind} cannot be trained with a gradient-penalty objective: minibatch "
            "features make each score depend on the whole batch, and the penalty constrains each sample's own "
            "input gradient (Sec. 4: it is 'no longer valid' for a critic mapping a batch to a batch). Use "
            "model.critic.minibatch=none, or an objective without a penalty (dcgan, lsgan, hinge, wgan_clip)."
        )


def minibatch_layer(kind: str, features: int, kernels: int, kernel_dim: int) -> tuple[nn.Module, int]:
    """The layer for `kind` over `features` channels or features, and how many it adds."""
    if kind == "discrimination":
        return MinibatchDiscrimination(features, kernels, kernel_dim), int(kernels)
    return MinibatchStdDev(), 1
