"""The character-level language model's 1D CNNs (Sec. 5.5, Table 4; released gan_language.py), `model=charcnn`.

Both nets work on (N, vocab, seq_len): the generator ends in a softmax over the vocabulary axis and
its output goes straight into the critic with no sampling step (Sec. 5.5); decoding takes the
argmax per position (wgangp.data.text.CharVocabulary.decode). No batch norm anywhere, as released.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wgangp.nets.layers import spectral_normalize
from wgangp.nets.units import ReLU


def _text_shape(data_shape: tuple[int, ...], net: str) -> tuple[int, int]:
    """(vocab_size, seq_len) of a one-hot text data_shape, else ValueError."""
    shape = tuple(int(s) for s in data_shape)
    if len(shape) != 2:
        raise ValueError(
            f"{net} needs one-hot text data of shape (vocab_size, seq_len), e.g. data=text; got data_shape={shape}"
        )
    return shape[0], shape[1]


class ResBlock1d(nn.Module):
    """x + 0.3 * conv(relu(conv(relu(x)))) with two width-preserving 1D convs (released ResBlock:
    kernel 5, 'same' padding, the residual branch scaled by 0.3). (N, dim, L) -> (N, dim, L)."""

    def __init__(self, dim: int, kernel_size: int = 5, residual_scale: float = 0.3) -> None:
        super().__init__()
        self.residual_scale = float(residual_scale)
        self.branch = nn.Sequential(
            ReLU(),
            nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2),
            ReLU(),
            nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.residual_scale * self.branch(x)


class CharCNNGenerator(nn.Module):
    """z (N, latent_dim) -> Linear -> (N, dim, seq_len) -> `blocks` ResBlock1d -> 1x1 conv to the
    vocabulary -> softmax over the vocabulary axis: (N, vocab_size, seq_len), each position a
    distribution over characters."""

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent_dim: int = 128,
        dim: int = 512,
        blocks: int = 5,
        kernel_size: int = 5,
        residual_scale: float = 0.3,
    ) -> None:
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        vocab_size, self.seq_len = _text_shape(self.data_shape, "CharCNNGenerator")
        self.latent_dim, self.dim = int(latent_dim), int(dim)
        self.input = nn.Linear(self.latent_dim, self.dim * self.seq_len)
        self.blocks = nn.Sequential(*[ResBlock1d(self.dim, kernel_size, residual_scale) for _ in range(blocks)])
        self.output = nn.Conv1d(self.dim, vocab_size, 1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.input(z).view(-1, self.dim, self.seq_len)  # (N, dim, L)
        logits = self.output(self.blocks(h))  # (N, vocab, L)
        return torch.softmax(logits, dim=1)  # Sec. 5.5: softmax output, no sampling step


class CharCNNCritic(nn.Module):
    """x (N, vocab_size, seq_len), one-hot or softmax -> 1x1 conv to `dim` channels -> `blocks`
    ResBlock1d -> flatten -> Linear: scores (N,). No normalisation, so each score depends on its own
    input only, as a gradient penalty needs (Sec. 4); `uses_penalty` is accepted as by every critic, with
    nothing to swap. `spectral_norm`: every conv and the Linear spectrally normalised
    (nets.layers.spectral_normalize)."""

    def __init__(
        self,
        data_shape: tuple[int, ...],
        dim: int = 512,
        blocks: int = 5,
        kernel_size: int = 5,
        residual_scale: float = 0.3,
        uses_penalty: bool = False,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        vocab_size, seq_len = _text_shape(self.data_shape, "CharCNNCritic")
        self.input = nn.Conv1d(vocab_size, int(dim), 1)
        self.blocks = nn.Sequential(*[ResBlock1d(int(dim), kernel_size, residual_scale) for _ in range(blocks)])
        self.output = nn.Linear(int(dim) * seq_len, 1)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.input(x))  # (N, dim, L)
        return self.output(h.flatten(1)).squeeze(1)
