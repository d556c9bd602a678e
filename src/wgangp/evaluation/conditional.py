"""Class-conditional and InfoGAN generators measured with the `metrics` extractor (metrics=classifier:
a classifier of the data set itself).

- `ClassConditional`: conditional accuracy (the classifier labels `num_per_class` samples drawn for each
  class; the fraction it labels with the class asked for), per-class FID (each class's samples against
  that class's real images) and the FID of all of them against all real images.
- `InfoCodes`: InfoGAN's Q recovering the categorical codes it was given, and, on labelled data, the
  purity of the first categorical code against the classifier's classes (best one-to-one matching).

Both do nothing for runs they do not apply to (an unconditional generator, an objective without codes),
so the labelled data configs can list them for every run; their extractor is built only when they apply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from wgangp.evaluation.base import Evaluator, device_of
from wgangp.evaluation.context import EvalContext, generate
from wgangp.evaluation.features import build_extractor
from wgangp.metrics.conditional import code_purity, frechet_distance, gaussian_fit


def _build_extractor(make_extractor: Callable[[], nn.Module]) -> nn.Module | None:
    """The extractor, or None with a warning for metrics=inception without its weights (as ImageQuality)."""
    return build_extractor(make_extractor, strict=False, what="conditional metrics")


def _extract(extractor: nn.Module, images: Tensor, batch_size: int, device: torch.device) -> dict[str, Tensor]:
    """The extractor's {"pool", "logits"} over images in chunks, on the CPU in float32."""
    extractor.to(device)
    outs = [extractor(chunk.to(device)) for chunk in images.split(batch_size)]
    return {k: torch.cat([o[k].float().cpu() for o in outs]) for k in outs[0]}


class ClassConditional(Evaluator):
    """`val/cond_accuracy`, `val/fid_class_<k>`, `val/fid_class_mean` and `val/fid_all` of a class-conditional
    generator: `num_per_class` samples per class (fixed z, EVAL stream index 3), `num_real` real images
    (EVAL_DATA index 2) split by their labels. `cond_accuracy` needs an extractor whose logits are the data's
    classes (metrics=classifier); with another extractor only the FIDs are reported.

    Args:
        extractor: builds the feature extractor (the `metrics` group's), called in `setup`.
        num_per_class: generated samples per class.
        num_real: real images for the reference statistics (all classes together).
    """

    def __init__(
        self,
        extractor: Callable[[], nn.Module],
        every_n_iters: int = 5000,
        num_per_class: int = 500,
        num_real: int = 10000,
        batch_size: int = 250,
        at_start: bool = False,
    ) -> None:
        super().__init__(every_n_iters, at_start)
        self.make_extractor = extractor
        self.num_per_class, self.num_real, self.batch_size = int(num_per_class), int(num_real), int(batch_size)
        self.extractor: nn.Module | None = None

    def setup(self, datamodule, context: EvalContext) -> None:
        if not context.conditional:
            return  # an unconditional run: nothing to measure
        self.extractor = _build_extractor(self.make_extractor)
        if self.extractor is None:
            return
        self.num_classes = int(context.num_classes)
        self._z = context.noise(self.num_classes * self.num_per_class, context.rng("conditional"))  # (K * n, dim)
        self._labels = torch.arange(self.num_classes).repeat_interleave(self.num_per_class)  # (K * n,)
        self._real = datamodule.eval_batch(self.num_real, index=2)  # {"real", "label"}
        self._real_stats: dict[str, Any] | None = None

    def _reference(self, device: torch.device) -> dict[str, Any]:
        """Gaussian fits of the real features: per class and of all (computed once per run)."""
        if self._real_stats is None:
            pool = _extract(self.extractor, self._real["real"], self.batch_size, device)["pool"]
            labels = self._real["label"]
            self._real_stats = {
                "all": gaussian_fit(pool),
                "class": [gaussian_fit(pool[labels == k]) for k in range(self.num_classes)],
            }
        return self._real_stats

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        if self.extractor is None:
            return {}
        device = device_of(generator)
        real = self._reference(device)
        fake = torch.cat(
            [
                generate(generator, z, y).float().cpu()
                for z, y in zip(self._z.split(self.batch_size), self._labels.split(self.batch_size), strict=True)
            ]
        )
        out = _extract(self.extractor, fake, self.batch_size, device)
        metrics: dict[str, float] = {}
        if "logits" in out and out["logits"].size(1) == self.num_classes:  # a classifier of the data's classes
            metrics["val/cond_accuracy"] = float((out["logits"].argmax(1) == self._labels).float().mean())
        per_class = [
            frechet_distance(gaussian_fit(out["pool"][self._labels == k]), real["class"][k])
            for k in range(self.num_classes)
        ]
        metrics.update({f"val/fid_class_{k}": v for k, v in enumerate(per_class)})
        metrics["val/fid_class_mean"] = sum(per_class) / len(per_class)
        metrics["val/fid_all"] = frechet_distance(gaussian_fit(out["pool"]), real["all"])
        return metrics

    def describe(self) -> dict[str, Any]:  # prefixed: src/eval.py's JSON holds every evaluator's settings
        if self.extractor is None:
            return {}
        return {"cond_num_per_class": self.num_per_class, "cond_num_real": self.num_real}


class InfoCodes(Evaluator):
    """`val/info_q_accuracy`: how often InfoGAN's Q recovers the categorical codes of `num_samples`
    generated samples (fixed z, EVAL stream index 4); `val/info_code_purity` (with a classifier of the data's
    classes, metrics=classifier): the fraction of those samples whose first categorical code value maps to
    the class the classifier gives them, under the best one-to-one matching (InfoGAN on MNIST: 95%)."""

    def __init__(
        self,
        extractor: Callable[[], nn.Module],
        every_n_iters: int = 5000,
        num_samples: int = 2000,
        batch_size: int = 250,
        at_start: bool = False,
    ) -> None:
        super().__init__(every_n_iters, at_start)
        self.make_extractor = extractor
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)
        self.codes = None

    def setup(self, datamodule, context: EvalContext) -> None:
        self.codes = context.codes
        if self.codes is None:
            return  # no codes: nothing to measure
        self._q_output = context.q_output  # the objective's Q head, which moves with it
        self.extractor = _build_extractor(self.make_extractor) if getattr(datamodule, "num_classes", None) else None
        self._num_classes = getattr(datamodule, "num_classes", None)
        self._z = self.codes.sample(self.num_samples, context.rng("info_codes"))

    def evaluate(self, generator: nn.Module, critic: nn.Module) -> dict[str, float]:
        if self.codes is None:
            return {}
        device = device_of(generator)
        fake = torch.cat([generate(generator, z).float() for z in self._z.split(self.batch_size)])  # on device
        q = torch.cat([self._q_output(x).float().cpu() for x in fake.split(self.batch_size)])
        cats, _ = self.codes.split(self._z)
        logits, _ = self.codes.q_parts(q)
        hits = torch.stack([(lg.argmax(1) == c).float().mean() for lg, c in zip(logits, cats, strict=True)])
        metrics = {"val/info_q_accuracy": float(hits.mean())}
        if self.extractor is not None:
            out = _extract(self.extractor, fake.cpu(), self.batch_size, device)
            if "logits" in out and out["logits"].size(1) == self._num_classes:
                predicted = out["logits"].argmax(1)
                values = self.codes.categorical[0]
                metrics["val/info_code_purity"] = code_purity(cats[0], predicted, values, self._num_classes)
        return metrics

    def describe(self) -> dict[str, Any]:  # prefixed: the quality evaluator's num_samples sits beside it
        return {} if self.codes is None else {"info_num_samples": self.num_samples}
