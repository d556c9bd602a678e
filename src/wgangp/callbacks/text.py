"""Language-model diagnostics (Sec. 5.5): decoded samples and character n-gram JS divergences."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from wgangp.data.errors import DataError
from wgangp.metrics.ngrams import NgramCounts, ngram_js, to_ids
from wgangp.plots import save_curve
from wgangp.rng import EVAL, step_generator
from wgangp.sampling import eval_mode

log = logging.getLogger(__name__)


def is_text_data(datamodule) -> bool:
    """One-hot character data: (vocab_size, seq_len) with a `decode` (wgangp.data.text)."""
    return len(tuple(getattr(datamodule, "data_shape", ()))) == 2 and hasattr(datamodule, "decode")


class TextDiagnostics(Callback):
    """On text data, at the start, every `every_n_iters` generator iterations and at the end:

    - appends `num_print` decoded samples (argmax per position, trailing padding removed) of the
      same fixed latent points to `samples.txt` in the run directory, under a `# generator
      iteration K` header, and logs them as a table `val/samples` to loggers with `log_text` (W&B);
    - logs `val/js_1gram` .. `val/js_4gram` (bits): the JS divergence between the character n-gram
      distributions of `num_samples` generated sequences (fixed z) and of the real validation lines
      (wgangp.metrics.ngrams; the released code: 640 samples every 100 iterations);
    - writes `js_4gram.png`, the curve so far, with a dashed line at `val/js_4gram_real`: the same
      divergence for `num_samples` real training lines, the value a generator matching the data would
      get at this sample size (logged once, at the start).

    The validation lines are the reference; with data.val_fraction=0 the training lines are.
    Does nothing on other data.
    """

    ORDERS = (1, 2, 3, 4)

    def __init__(self, out_dir: str, every_n_iters: int = 100, num_samples: int = 640, num_print: int = 32,
                 batch_size: int = 640) -> None:
        self.out_dir = Path(out_dir)
        self.every_n_iters = int(every_n_iters)
        self.num_samples = int(num_samples)
        self.num_print = int(num_print)
        self.batch_size = int(batch_size)
        self.enabled = False
        self.history: list[tuple[int, dict[int, float]]] = []  # (generator iteration, {n: js})
        self.real_js: dict[int, float] = {}
        self._reference: dict[int, NgramCounts] = {}
        self._z: torch.Tensor | None = None
        self._z_print: torch.Tensor | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        dm = trainer.datamodule
        self.enabled = trainer.is_global_zero and self.every_n_iters > 0 and is_text_data(dm)
        if not self.enabled:
            return
        vocab_size = dm.data_shape[0]
        try:
            reference = dm.val_source.real  # ids (M, seq_len)
        except DataError:
            log.warning("no validation lines (data.val_fraction=0): val/js_*gram compare with the training lines")
            reference = dm.source.real
        self._reference = {n: NgramCounts.from_ids(reference, n, vocab_size) for n in self.ORDERS}
        # Real training lines scored like a generator's samples: the divergence's floor at this sample size.
        real = to_ids(dm.eval_samples(self.num_samples, index=1))
        self.real_js = ngram_js(real, self._reference, vocab_size, self.ORDERS)
        # Fixed latent points (EVAL stream, apart from the sample grid's and sampling.py's indices).
        self._z = torch.randn(self.num_samples, pl_module.latent_dim, generator=step_generator(pl_module.seed, 2, EVAL))
        self._z_print = self._z[: self.num_print]

    @torch.no_grad()
    def _generate(self, pl_module, z: torch.Tensor) -> torch.Tensor:
        """Character ids (n, seq_len) of G(z), by argmax per position."""
        generator, device = pl_module.generator, pl_module.device
        with eval_mode(generator):
            return torch.cat([to_ids(generator(chunk.to(device))).cpu() for chunk in z.split(self.batch_size)])

    def evaluate(self, trainer: L.Trainer, pl_module) -> None:
        k = pl_module.generator_iter
        if self.history and self.history[-1][0] == k:
            return
        t0 = time.perf_counter()
        dm = trainer.datamodule
        ids = self._generate(pl_module, self._z)  # (num_samples, seq_len); the first num_print are printed
        js = ngram_js(ids, self._reference, dm.data_shape[0], self.ORDERS)
        self.history.append((k, js))
        metrics = {f"val/js_{n}gram": v for n, v in js.items()}
        if len(self.history) == 1:  # constant: logged with the first evaluation
            metrics.update({f"val/js_{n}gram_real": v for n, v in self.real_js.items()})
        metrics["val/text_seconds"] = time.perf_counter() - t0
        pl_module.log_metrics(metrics)
        for name, v in metrics.items():
            trainer.callback_metrics[name] = torch.tensor(v)
        self._write_samples(trainer, k, dm.decode(ids[: self.num_print]))
        save_curve(self.out_dir / "js_4gram.png", [s for s, _ in self.history], [v[4] for _, v in self.history],
                   "JS divergence of character 4-grams (bits)", floor=self.real_js[4])

    def _write_samples(self, trainer: L.Trainer, k: int, lines: list[str]) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "samples.txt", "a", encoding="utf-8") as f:
            f.write(f"# generator iteration {k}\n" + "".join(f"{line}\n" for line in lines))
        for logger in trainer.loggers:
            if hasattr(logger, "log_text"):  # W&B: a table, one row per sample
                logger.log_text("val/samples", columns=["generator_iter", "sample"], data=[[k, s] for s in lines],
                                step=k)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.enabled:
            self.evaluate(trainer, pl_module)  # the untrained (or resumed) generator's samples

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.enabled and pl_module.generator_iter % self.every_n_iters == 0:
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.enabled:
            self.evaluate(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        # the curve so far, so a resumed run's js_4gram.png continues it
        return {"history": [(k, {str(n): v for n, v in js.items()}) for k, js in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [(int(k), {int(n): float(v) for n, v in js.items()}) for k, js in state_dict["history"]]
