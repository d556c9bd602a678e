"""The language model's measure (Sec. 5.5): character n-gram JS divergences and decoded samples."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from wgangp.data.errors import DataError
from wgangp.evaluation.base import Artifact, Evaluator, Table, device_of, output_dir
from wgangp.evaluation.context import EvalContext
from wgangp.metrics.ngrams import NgramCounts, ngram_js, to_ids
from wgangp.plots import save_curve

log = logging.getLogger("wgangp")


class NgramDivergence(Evaluator):
    """On one-hot character data (wgangp.data.text):

    - `val/js_1gram` .. `val/js_4gram` (bits): the JS divergence between the character n-gram
      distributions of `num_samples` generated sequences (fixed z) and of the real validation lines
      (wgangp.metrics.ngrams; the released code: 640 samples every 100 iterations);
    - `val/js_1gram_real` .. `val/js_4gram_real`, with the first evaluation: the same divergence for
      `num_samples` real training lines, the value a generator matching the data would get at this
      sample size;
    - each evaluation appends `num_print` decoded samples (argmax per position, trailing padding
      removed) of the same latent points to `samples.txt` under a `# generator iteration K` header, logs
      them as a table `val/samples` (W&B) and redraws `js_4gram.png`, the curve so far, with a dashed
      line at `val/js_4gram_real`.

    The validation lines are the reference; with data.val_fraction=0 the training lines are.
    """

    ORDERS = (1, 2, 3, 4)

    def __init__(
        self,
        out_dir: str | None = None,
        every_n_iters: int = 100,
        num_samples: int = 640,
        num_print: int = 32,
        batch_size: int = 640,
        at_start: bool = True,
    ) -> None:
        super().__init__(every_n_iters, at_start)
        self.out_dir = Path(out_dir) if out_dir else None  # None: the run directory (context.out_dir)
        self.num_samples = int(num_samples)
        self.num_print = int(num_print)
        self.batch_size = int(batch_size)
        self.real_js: dict[int, float] = {}
        self._reference: dict[int, NgramCounts] = {}
        self._z: torch.Tensor | None = None
        self._decode = None
        self._vocab_size = 0
        self._lines: list[str] = []

    def setup(self, datamodule, context: EvalContext) -> None:
        self.out_dir = output_dir(self.out_dir, context)
        self._vocab_size = datamodule.data_shape[0]
        self._decode = datamodule.decode
        try:
            reference = datamodule.val_source.real  # ids (M, seq_len)
        except DataError:
            log.warning("no validation lines (data.val_fraction=0): val/js_*gram compare with the training lines")
            reference = datamodule.source.real
        self._reference = {n: NgramCounts.from_ids(reference, n, self._vocab_size) for n in self.ORDERS}
        # Real training lines scored like a generator's samples: the divergence's floor at this sample size.
        real = to_ids(datamodule.eval_samples(self.num_samples, index=1))
        self.real_js = ngram_js(real, self._reference, self._vocab_size, self.ORDERS)
        # Fixed latent points from its own named stream (wgangp.rng.EVAL_STREAMS).
        self._z = context.noise(self.num_samples, context.rng("ngrams"))  # (n, latent_dim)

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        device = device_of(generator)
        ids = torch.cat([to_ids(generator(z.to(device))).cpu() for z in self._z.split(self.batch_size)])  # (n, L)
        js = ngram_js(ids, self._reference, self._vocab_size, self.ORDERS)
        self._lines = self._decode(ids[: self.num_print])
        metrics = {f"val/js_{n}gram": v for n, v in js.items()}
        if not self.history:  # constant: logged with the first evaluation
            metrics.update({f"val/js_{n}gram_real": v for n, v in self.real_js.items()})
        return metrics

    def write(self, step: int) -> list[Artifact]:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "samples.txt", "a", encoding="utf-8") as f:
            f.write(f"# generator iteration {step}\n" + "".join(f"{line}\n" for line in self._lines))
        curve = [(k, m["val/js_4gram"]) for k, m in self.history if "val/js_4gram" in m]
        save_curve(
            self.out_dir / "js_4gram.png",
            [k for k, _ in curve],
            [v for _, v in curve],
            "JS divergence of character 4-grams (bits)",
            floor=self.real_js[4],
        )
        return [Table("val/samples", ["generator_iter", "sample"], [[step, s] for s in self._lines])]
