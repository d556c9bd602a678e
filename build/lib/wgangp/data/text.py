"""Character-level text as one-hot sequences (Sec. 5.4, the 1B Word language model): `data=text|billion_word`.

Each line is cut to its first `seq_len` (32) characters and padded; characters map to ids through a
vocabulary built from the training lines (the most frequent characters, the rest one unknown
symbol); batches are one-hot float (N, vocab_size, seq_len), the layout a 1-d conv critic reads.
The id matrix (N, seq_len) is held in memory and one-hot encoded on the training device.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from wgangp.data.base import GANDataModule
from wgangp.data.errors import DataError
from wgangp.data.finite import TensorSource, split_indices
from wgangp.data.formats import check_readable, unreadable
from wgangp.data.stream import Source

UNKNOWN = "\ufffd"  # id 0: characters outside the vocabulary
PAD = "`"  # id 1: fills lines shorter than seq_len (the released code's padding character)
_CODEPOINTS = 0x110000


def one_hot_ids(ids: Tensor, vocab_size: int) -> Tensor:
    """Character ids (..., L) -> one-hot float (..., vocab_size, L)."""
    return F.one_hot(ids.long(), vocab_size).transpose(-1, -2).float()


@dataclass
class CharVocabulary:
    """Characters by id: chars[0] is UNKNOWN, chars[1] is PAD, then the data's characters by frequency."""

    chars: list[str]
    seq_len: int = 32

    @classmethod
    def build(cls, lines: Sequence[str], size: int, seq_len: int = 32) -> CharVocabulary:
        """The `size` - 2 most frequent characters of the first seq_len characters of `lines` (ties: first seen)."""
        if size < 3:
            raise ValueError(f"vocab_size={size} must be at least 3 (unknown, padding and one character)")
        codes = _codepoints(lines, seq_len)
        counts = np.bincount(codes, minlength=_CODEPOINTS)
        counts[[ord(UNKNOWN), ord(PAD)]] = 0
        present = np.flatnonzero(counts)
        # A stable sort by falling count; among equal counts the smaller code point first.
        ranked = present[np.argsort(-counts[present], kind="stable")][: size - 2]
        return cls([UNKNOWN, PAD, *map(chr, ranked.tolist())], seq_len)

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, lines: Sequence[str]) -> Tensor:
        """Lines -> ids (N, seq_len): uint8 when the vocabulary fits a byte, else int16."""
        table = np.zeros(_CODEPOINTS, dtype=np.int16)  # code point -> id; 0 (UNKNOWN) by default
        table[[ord(c) for c in self.chars[1:]]] = np.arange(1, len(self.chars))
        ids = table[_codepoints(lines, self.seq_len)].reshape(len(lines), self.seq_len)
        return torch.from_numpy(ids.astype(np.uint8 if len(self.chars) <= 256 else np.int16))

    def decode(self, x: Tensor) -> list[str]:
        """One-hot or soft (N, vocab_size, seq_len), or ids (N, seq_len) -> strings, trailing padding removed."""
        ids = x.argmax(dim=1) if x.dim() == 3 else x
        return ["".join(self.chars[i] for i in row).rstrip(PAD) for row in ids.tolist()]


def _codepoints(lines: Sequence[str], seq_len: int) -> np.ndarray:
    """Code points (N * seq_len,) of the lines cut and padded to seq_len. A PAD character in the data
    becomes UNKNOWN, so padding stays unambiguous."""
    text = "".join(line[:seq_len].replace(PAD, UNKNOWN).ljust(seq_len, PAD) for line in lines)
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def read_lines(files: Iterable[Path], max_lines: int | None, how: str) -> list[str]:
    """Non-blank lines (newline removed) of `files` in order, at most `max_lines`."""

    def lines_of(path: Path) -> Iterable[str]:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        yield line.rstrip("\r\n")
        except UnicodeDecodeError as err:
            raise DataError(
                f"{path} is not UTF-8 text ({err}); expected a text file with one example per line. {how}"
            ) from err
        except OSError as err:  # permission denied, a folder, a device error
            raise unreadable(path, err, how) from err

    return list(itertools.islice(itertools.chain.from_iterable(map(lines_of, files)), max_lines))


class TextDataModule(GANDataModule):
    """Any UTF-8 text file, one example per line (`data=text data.path=FILE`).

    Args:
        path: the text file (required; None or "" is a DataError saying how to get one).
        seq_len: characters per example (the paper: 32); longer lines are cut, shorter padded.
        vocab_size: at most this many symbols, unknown and padding included (the released code: 2048).
        max_lines: read at most this many non-blank lines (None: all).
        val_fraction: a fixed share of the lines held out for validation.
    """

    def __init__(
        self,
        path: str | None = None,
        seq_len: int = 32,
        vocab_size: int = 2048,
        max_lines: int | None = None,
        val_fraction: float = 0.1,
        batch_size: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        given = path is not None and str(path).strip() not in ("", "???")  # "???": OmegaConf's missing value
        self.path: Path | None = Path(path) if given else None
        self.seq_len, self.vocab_size = int(seq_len), int(vocab_size)
        self.max_lines, self.val_fraction = max_lines, float(val_fraction)
        self._vocabulary: CharVocabulary | None = None

    def _files(self) -> tuple[list[Path], str]:
        """The files to read and how to get usable ones (for error messages)."""
        how = "Point data.path at a UTF-8 text file with one example per line."
        if self.path is None:
            raise DataError(
                "data=text needs data.path, a UTF-8 text file with one example per line, and none was given. Run "
                "with data.path=/path/to/file.txt; to make such a file from a MediaWiki XML dump (.bz2 too) or plain "
                "text, run `python scripts/prepare_text.py IN OUT.txt` (its docstring shows an English Wikipedia "
                "excerpt that needs no download), or train on the 1B Word benchmark with data=billion_word."
            )
        check_readable(self.path, how)
        if self.path.is_dir():
            raise DataError(f"data.path={self.path} is a folder, not a text file. {how}")
        if not self.path.is_file():
            raise DataError(f"the text file {self.path} does not exist. {how}")
        return [self.path], how

    @property
    def vocabulary(self) -> list[str]:
        """Characters by id (id 0: unknown, id 1: padding); built from the training lines by setup()."""
        self.source  # noqa: B018  (raises unless set up)
        return self._vocabulary.chars

    def decode(self, x: Tensor) -> list[str]:
        """Generated or real one-hot (N, vocab_size, seq_len) (argmax per position) or ids -> strings."""
        self.source  # noqa: B018  (raises unless set up)
        return self._vocabulary.decode(x)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (len(self.vocabulary), self.seq_len)

    def load(self, split: str) -> Source:
        files, how = self._files()
        lines = read_lines(files, self.max_lines, how)
        if not lines:
            raise DataError(
                f"{', '.join(map(str, files[:3]))}{' ...' if len(files) > 3 else ''} holds no usable "
                f"(non-blank) lines; expected UTF-8 text with one example per line. {how}"
            )
        train, val = split_indices(len(lines), self.val_fraction)
        if split == "val" and len(val) == 0:
            raise DataError(
                f"{files[0]} holds {len(lines)} usable lines, too few to hold out "
                f"data.val_fraction={self.val_fraction} of them; add lines or raise data.val_fraction."
            )
        # The vocabulary comes from the training lines, so the val split sees unknown characters as a model would.
        if self._vocabulary is None:
            self._vocabulary = CharVocabulary.build([lines[i] for i in train.tolist()], self.vocab_size, self.seq_len)
        ids = self._vocabulary.encode([lines[i] for i in (train if split == "train" else val).tolist()])
        return TensorSource(ids, decode=partial(one_hot_ids, vocab_size=len(self._vocabulary)))


class BillionWordDataModule(TextDataModule):
    """The One Billion Word benchmark's training text (`data=billion_word`): the files
    root/training-monolingual.tokenized.shuffled/news.en-* in name order, the first `max_lines`
    lines (the released language model: 10 million)."""

    FOLDER = "training-monolingual.tokenized.shuffled"

    def __init__(self, root: str, max_lines: int | None = 10_000_000, **kwargs) -> None:
        super().__init__(path=root, max_lines=max_lines, **kwargs)

    def _files(self) -> tuple[list[Path], str]:
        how = (
            "Get it from https://www.statmt.org/lm-benchmark/ (1-billion-word-language-modeling-benchmark-"
            "r13output.tar.gz), unpack it and set data.root to the unpacked folder."
        )
        if self.path is None:
            raise DataError(f"data=billion_word needs data.root, the folder holding {self.FOLDER}/. {how}")
        folder = self.path / self.FOLDER
        check_readable(self.path, how)
        check_readable(folder, how)
        files = sorted(folder.glob("news.en-*")) if folder.is_dir() else []
        if not files:
            raise DataError(
                f"no 1B Word training files under {folder}: expected news.en-00001-of-00100 ... "
                f"news.en-00099-of-00100 there. {how}"
            )
        return files, how
