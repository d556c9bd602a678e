"""Inception Score, FID and KID through torchmetrics' metric classes, fed by our feature extractors.

Inception Score (Salimans et al. 2016; the paper's Sec. 5.3, Fig. 3, Table 3), Frechet Inception
Distance (Heusel et al. 2017) and Kernel Inception Distance (Binkowski et al. 2018) are torchmetrics'
`InceptionScore`, `FrechetInceptionDistance` and `KernelInceptionDistance`; they do the math and, under
DDP, gather their states across ranks. A feature extractor (wgangp.metrics.features.InceptionFeatures,
wgangp.metrics.classifier.ClassifierFeatures, or any nn.Module mapping images (N, C, H, W) in [-1, 1] to
{"pool": (N, D), "logits": (N, K)}) plugs in as their `feature` module through two small adapters: it
runs once per batch, and each metric reads its output (IS the logits, FID and KID the pool features),
in float64.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn
from torchmetrics.aggregation import SumMetric
from torchmetrics.image import FrechetInceptionDistance, InceptionScore, KernelInceptionDistance

# FID's real-data states; with KID's real features they are the cached statistics of the real data.
FID_REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")


class SharedExtractor(nn.Module):
    """Runs `extractor` once per batch although IS, FID and KID each call their feature module on it:
    the output for the last batch tensor is kept and returned again for the same tensor."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor
        self._batch: Tensor | None = None
        self._out: dict[str, Tensor] = {}

    @torch.no_grad()
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        if images is not self._batch:
            self._batch, self._out = images, self.extractor(images)
        return self._out

    def hold(self, inputs: Tensor, out: dict[str, Tensor]) -> None:
        """Answer `inputs` with `out` (an output the extractor already gave) instead of running it."""
        self._batch, self._out = inputs, out

    def clear(self) -> None:
        self._batch, self._out = None, {}


class ExtractorOutput(nn.Module):
    """One output ("pool" or "logits") of a shared extractor, (N, num_features) float64: the `feature`
    module torchmetrics calls. `num_features` spares FID a probe forward on a 299x299 dummy image."""

    def __init__(self, shared: SharedExtractor, key: str, num_features: int) -> None:
        super().__init__()
        self.shared, self.key, self.num_features = shared, key, int(num_features)

    def forward(self, images: Tensor) -> Tensor:
        return self.shared(images)[self.key].double().flatten(1)


class QualityScores(nn.Module):
    """IS (from "logits"), FID and KID (from "pool") of generated images against real ones.

    Feed real images with `update_real` (or restore them with `load_real_state`, the cache), generated
    ones with `update_fake`, then `compute()`. The real data's state survives `reset()`.

    - IS: `splits` chunks after a random permutation (torchmetrics and torch-fidelity both permute);
      the std is over the chunks with ddof=0, as Salimans et al.'s code and torch-fidelity report it.
    - FID: Gaussian fits of all real and all generated pool features.
    - KID: unbiased polynomial-kernel MMD^2 over `kid_subsets` random subsets of
      min(kid_subset_size, N_real, N_fake) rows of each set; only the first `kid_subset_size` real
      features are kept.
    - The random permutation and subsets come from a CPU generator seeded by `seed`, so a score is
      reproducible and every rank draws the same ones.

    Args:
        extractor: images -> {"pool": (N, D), "logits": (N, K)}; either key may be missing.
        probe: one input batch of the real shape, to learn D and K.
        sync: gather states across DDP ranks in compute() (every rank must then call it).
    """

    def __init__(
        self,
        extractor: nn.Module,
        probe: Tensor,
        splits: int = 10,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        seed: int = 0,
        sync: bool = True,
    ) -> None:
        super().__init__()
        self.shared = SharedExtractor(extractor)
        dims = {k: v.flatten(1).size(1) for k, v in extractor(probe).items()}
        self._dims = dims
        self.kid_subset_size, self.seed = int(kid_subset_size), int(seed)
        kw = {"sync_on_compute": sync}
        self.inception_score = self.fid = self.kid = None
        warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer")  # they are few
        if "logits" in dims:
            self.inception_score = InceptionScore(
                ExtractorOutput(self.shared, "logits", dims["logits"]), splits=splits, **kw
            )
        if "pool" in dims:
            pool = ExtractorOutput(self.shared, "pool", dims["pool"])
            self.fid = FrechetInceptionDistance(pool, reset_real_features=False, **kw)
            self.kid = KernelInceptionDistance(
                pool, subsets=kid_subsets, subset_size=self.kid_subset_size, reset_real_features=False, **kw
            )
        self.num_fake = SumMetric(**kw)  # generated images over all ranks (IS chunks, KID subset size)
        self._kid_real_rows = 0

    @property
    def has_pool(self) -> bool:
        return self.fid is not None

    def update_real(self, images: Tensor) -> None:
        """Add real images to FID's statistics and, up to kid_subset_size rows, to KID's real features."""
        if self.has_pool:
            self.update_real_features(self.shared(images)["pool"])

    def update_real_features(self, pool: Tensor) -> None:
        """`update_real` of images whose extractor output is `pool` (N, D): the real features cached once per
        data set (wgangp.evaluation.features) feed FID and KID without running the extractor again."""
        if not self.has_pool:
            return
        self.shared.hold(pool, {"pool": pool})  # the metrics' feature modules read `pool` back
        self.fid.update(pool, real=True)
        keep = min(len(pool), self.kid_subset_size - self._kid_real_rows)
        if keep > 0:
            rows = pool[:keep]
            self.shared.hold(rows, {"pool": rows})
            self.kid.update(rows, real=True)
            self._kid_real_rows += keep
        self.shared.clear()

    def update_fake(self, images: Tensor) -> None:
        self.num_fake.update(float(len(images)))
        if self.inception_score is not None:
            self.inception_score.update(images)
        if self.has_pool:
            self.fid.update(images, real=False)
            self.kid.update(images, real=False)
        self.shared.clear()

    def real_state_keys(self) -> tuple[str, ...]:
        return (*FID_REAL_STATES, "kid_features") if self.has_pool else ()

    def real_state(self) -> dict[str, Tensor]:
        """The real data's statistics: FID's sums and sample count, KID's real features (for the cache)."""
        if not self.has_pool:
            return {}
        state = {name: getattr(self.fid, name).detach().cpu() for name in FID_REAL_STATES}
        state["kid_features"] = torch.cat([f.detach().cpu() for f in self.kid.real_features])
        return state

    def load_real_state(self, state: dict[str, Tensor], local: bool = True) -> None:
        """Restore `real_state()`. local=False leaves this rank's real states empty: under DDP one rank
        holds the real data, so the sum torchmetrics gathers counts it once."""
        if not self.has_pool:
            return
        device = self.fid.real_features_sum.device
        for name in FID_REAL_STATES:
            value = state[name].to(device)
            setattr(self.fid, name, value if local else torch.zeros_like(value))
        features = state["kid_features"].to(device=device, dtype=torch.float64)
        self.kid.real_features = [features if local else features[:0]]
        self._kid_real_rows = len(features)

    def reset(self) -> None:
        """Forget the generated images (the real data's state stays)."""
        for metric in (self.inception_score, self.fid, self.kid, self.num_fake):
            if metric is not None:
                metric.reset()
        self.shared.clear()

    def compute(self) -> dict[str, float]:
        """{"inception_score", "inception_score_std", "fid", "kid", "kid_std"}, each where the extractor
        gives the features it needs (and, for FID and KID, real data was given)."""
        out: dict[str, float] = {}
        self._one_tensor_per_list_state()
        n_fake = int(self.num_fake.compute())
        with torch.random.fork_rng(devices=[]):  # IS's permutation and KID's subsets: torch.randperm on the CPU
            torch.manual_seed(self.seed)
            if self.inception_score is not None:
                with warnings.catch_warnings():  # one chunk: torchmetrics' std of one value warns (we report 0)
                    warnings.simplefilter("ignore", UserWarning)
                    mean, std = self.inception_score.compute()
                chunks = len(torch.empty(n_fake).chunk(self.inception_score.splits))  # chunk() may make fewer
                # torchmetrics' std is unbiased (ddof=1); the IS literature's is over the splits with ddof=0
                out["inception_score"] = float(mean)
                out["inception_score_std"] = float(std) * math.sqrt((chunks - 1) / chunks) if chunks > 1 else 0.0
            if self.has_pool and self._kid_real_rows:  # FID and KID need the real data
                out["fid"] = float(self.fid.compute())
                # every rank knows both counts: rank 0's real rows (load_real_state), all ranks' fakes
                self.kid.subset_size = max(2, min(self.kid_subset_size, self._kid_real_rows, n_fake))
                kid, kid_std = self.kid.compute()
                out["kid"], out["kid_std"] = float(kid), float(kid_std)
        return out

    def _one_tensor_per_list_state(self) -> None:
        """torchmetrics gathers a list state (dist_reduce_fx=None) element by element, so every rank must
        hold as many elements: one tensor each, (0, D) where a rank has no rows."""
        lists = [
            (self.inception_score, "features", "logits"),
            (self.kid, "real_features", "pool"),
            (self.kid, "fake_features", "pool"),
        ]
        for metric, name, key in lists:
            if metric is None:
                continue
            state = getattr(metric, name)
            if isinstance(state, list) and len(state) != 1:
                empty = torch.zeros(0, self._dims[key], dtype=torch.float64, device=self.num_fake.device)
                setattr(metric, name, [torch.cat(state) if state else empty])
