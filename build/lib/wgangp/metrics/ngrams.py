"""Character n-gram statistics of text samples, the language model's quality measure (Sec. 5.5).

The released language-model code tracked, every 100 generator iterations, the Jensen-Shannon
divergence between the character n-gram distributions (n = 1..4) of generated samples and of real
text. These are the pure functions behind `val/js_1gram` .. `val/js_4gram`.

How n-grams are counted (the released code's rule): every sample is its full sequence of
seq_len (32) character ids, *padding included*: PAD (id 1) is a symbol like any other, so the
statistics also compare where lines end (a generator that never pads, or pads mid-line, is
penalised). The n-grams of one sample are its seq_len - n + 1 windows of n consecutive positions;
windows never cross from one sample into the next. Counts over all samples give the empirical
distribution. UNKNOWN (id 0) counts like any other symbol too.

Units: log base 2 throughout, so the divergence is in bits and lies in [0, 1]: 0 for identical
distributions, 1 for disjoint supports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class NgramCounts:
    """The n-grams of a corpus as sorted integer codes (K,) and their counts (K,).

    A code packs the n ids base vocab_size, first character most significant, so the codes of two
    corpora with the same n and vocab_size compare directly.
    """

    n: int
    vocab_size: int
    codes: np.ndarray
    counts: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    @classmethod
    def from_ids(cls, ids: Tensor | np.ndarray, n: int, vocab_size: int) -> NgramCounts:
        """Count the n-grams of character ids (N, seq_len), one sample per row (windows within rows)."""
        ids = (ids.cpu().numpy() if isinstance(ids, Tensor) else np.asarray(ids)).astype(np.int64)
        if ids.ndim != 2 or not 1 <= n <= ids.shape[1]:
            raise ValueError(f"expected ids (N, seq_len) with 1 <= n <= seq_len; got shape {ids.shape} and n={n}")
        if vocab_size**n >= 2**63:
            raise ValueError(f"vocab_size={vocab_size} ** n={n} does not fit the int64 n-gram codes")
        windows = ids.shape[1] - n + 1
        codes = np.zeros((ids.shape[0], windows), dtype=np.int64)  # (N, L - n + 1)
        for k in range(n):
            codes = codes * vocab_size + ids[:, k : k + windows]
        unique, counts = np.unique(codes.ravel(), return_counts=True)
        return cls(n, vocab_size, unique, counts)


def js_divergence(p: NgramCounts, q: NgramCounts) -> float:
    """Jensen-Shannon divergence in bits between the empirical distributions of two count tables:
    JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2 with M = (P + Q) / 2, 0 log 0 = 0. Symmetric, in [0, 1]."""
    if (p.n, p.vocab_size) != (q.n, q.vocab_size):
        raise ValueError(f"cannot compare {p.n}-grams over {p.vocab_size} symbols with {q.n}-grams over {q.vocab_size}")
    if p.total == 0 or q.total == 0:
        raise ValueError("both corpora need at least one n-gram")
    support = np.union1d(p.codes, q.codes)  # (K,)
    probs = []
    for c in (p, q):
        dense = np.zeros(len(support))
        dense[np.searchsorted(support, c.codes)] = c.counts / c.total
        probs.append(dense)
    pp, qq = probs
    m = (pp + qq) / 2

    def kl_to_m(x: np.ndarray) -> float:
        nz = x > 0  # m >= x / 2 > 0 wherever x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    # clip float rounding (e.g. -1e-17 for identical inputs) into the bounds
    return float(min(max(0.5 * kl_to_m(pp) + 0.5 * kl_to_m(qq), 0.0), 1.0))


def ngram_js(
    generated: Tensor | np.ndarray,
    reference: Tensor | np.ndarray | dict[int, NgramCounts],
    vocab_size: int,
    orders: tuple[int, ...] = (1, 2, 3, 4),
) -> dict[int, float]:
    """{n: JS in bits} between the n-gram distributions of generated ids (N, seq_len) and reference
    ids (M, seq_len), or reference counts precomputed per order (to count a fixed corpus once)."""
    if not isinstance(reference, dict):
        reference = {n: NgramCounts.from_ids(reference, n, vocab_size) for n in orders}
    return {n: js_divergence(NgramCounts.from_ids(generated, n, vocab_size), reference[n]) for n in orders}


def to_ids(x: Tensor) -> Tensor:
    """One-hot or softmax sequences (N, vocab_size, seq_len) -> character ids (N, seq_len) by argmax
    per position (Sec. 5.5: decoding takes the argmax of each output vector)."""
    return x.argmax(dim=1) if x.dim() == 3 else x.to(torch.long)
