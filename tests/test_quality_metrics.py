"""IS / FID / KID through torchmetrics: closed forms, parity with torch-fidelity, and the image
evaluators (quality, sample grid) on a tiny image problem, in training and in src/eval.py."""

import csv
import json
import math
import os
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf, open_dict
from torch import nn

from conftest import run_cli, trust_targets
from wgangp.data.base import GANDataModule
from wgangp.errors import MissingWeightsError
from wgangp.metrics.features import INCEPTION_FILENAME, INCEPTION_URL, InceptionFeatures, default_inception_weights
from wgangp.metrics.quality import QualityScores
from wgangp.train import train

# ---- stand-ins the image tests run on (the project's image nets and data live elsewhere) -----------------
SHAPE = (3, 8, 8)


class RandomImages:
    """Uniform noise images in [-1, 1], (n, 3, 8, 8)."""

    def sample(self, n, generator):
        return {"real": torch.rand(n, *SHAPE, generator=generator) * 2 - 1}


class TinyImageData(GANDataModule):
    data_shape = SHAPE

    def load(self, split):
        return RandomImages()


class TinyGenerator(nn.Module):
    def __init__(self, data_shape, latent_dim=4):
        super().__init__()
        self.data_shape, self.latent_dim = tuple(data_shape), latent_dim
        self.net = nn.Linear(latent_dim, math.prod(data_shape))

    def forward(self, z):
        return self.net(z).tanh().view(-1, *self.data_shape)


class TinyCritic(nn.Module):
    def __init__(self, data_shape, uses_penalty=False):
        super().__init__()
        self.net = nn.Linear(math.prod(data_shape), 1)

    def forward(self, x):
        return self.net(x.flatten(1)).squeeze(1)


class TinyExtractor(nn.Module):
    """A fixed random projection: pool features (N, 16) and logits (N, 5)."""

    name = "tiny"

    def __init__(self, weights_path=None):  # takes the real extractor's config field, ignores it
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("proj", torch.randn(math.prod(SHAPE), 16, generator=g) / 8)
        self.register_buffer("head", torch.randn(16, 5, generator=g))

    def forward(self, images):
        pool = images.flatten(1) @ self.proj
        return {"pool": pool, "logits": pool @ self.head}


class Features(nn.Module):
    """The closed-form tests' extractor: the inputs are the features (pool) and, times `head`, the logits."""

    name = "features"

    def __init__(self, head=None):
        super().__init__()
        self.head = head

    def forward(self, x):
        return {"pool": x, **({"logits": x @ self.head} if self.head is not None else {})}


def scores(real, fake, head=None, splits=10, subsets=10, subset_size=1000, batch=64):
    """QualityScores of feature sets real (M, D) and fake (N, D), fed in batches as the evaluator does."""
    q = QualityScores(
        Features(head), real[:1], splits=splits, kid_subsets=subsets, kid_subset_size=subset_size, sync=False
    )
    for b in real.split(batch):
        q.update_real(b)
    for b in fake.split(batch):
        q.update_fake(b)
    return q.compute()


def inception_scores(logits, splits):
    """IS of logits (N, K) alone (an extractor without pool features: no FID or KID)."""
    q = QualityScores(_LogitsOnly(), logits[:1], splits=splits, sync=False)
    q.update_fake(logits)
    out = q.compute()
    return out["inception_score"], out["inception_score_std"]


class _LogitsOnly(nn.Module):
    name = "logits"

    def forward(self, x):
        return {"logits": x}


def gaussian_features(n, mean, variances, seed):
    """n features whose sample mean is exactly `mean` and unbiased sample covariance exactly diag(variances)."""
    z = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    chol = torch.linalg.cholesky(torch.cov(z.T))
    white = torch.linalg.solve_triangular(chol, z.T, upper=False).T  # sample covariance I
    return white * torch.as_tensor(variances, dtype=torch.float64).sqrt() + torch.as_tensor(mean, dtype=torch.float64)


TINY_TARGETS = [f"{__name__}.{name}" for name in ("TinyImageData", "TinyGenerator", "TinyCritic", "TinyExtractor")]


def image_config(tiny_config, tmp_path, *overrides, run_dir=None):
    cfg = tiny_config("data=digits", *overrides, f"metrics.stats_dir={tmp_path / 'stats'}", run_dir=run_dir)
    with open_dict(cfg):  # digits' evaluators (quality, samples, critic validation) on the stand-ins
        cfg.data = OmegaConf.create(
            {"_target_": f"{__name__}.TinyImageData", "batch_size": 8, "batches_per_step": cfg.objective.n_critic}
        )
        cfg.model.generator = OmegaConf.create({"_target_": f"{__name__}.TinyGenerator"})
        cfg.model.critic = OmegaConf.create({"_target_": f"{__name__}.TinyCritic"})
        cfg.metrics.extractor = OmegaConf.create({"_target_": f"{__name__}.TinyExtractor", "_partial_": True})
    return cfg


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


# ---- Inception Score: closed forms ---------------------------------------------------------------------
def test_is_of_uniform_predictions_is_one():
    mean, std = inception_scores(torch.zeros(100, 7, dtype=torch.float64), splits=10)
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)


def test_is_of_confident_predictions_over_k_equally_used_classes_is_k():
    logits = 60.0 * torch.eye(5, dtype=torch.float64).repeat(40, 1)  # (200, 5), one-hot up to e^-60
    mean, std = inception_scores(logits, splits=1)
    assert mean == pytest.approx(5.0) and std == 0.0


def test_is_closed_form_for_a_mixed_split():
    # One split, two samples p1 = (a, 1-a), p2 = (1-a, a): p(y) = (1/2, 1/2), KL = log 2 - H(a) for both.
    a = 0.9
    logits = torch.tensor([[math.log(a), math.log(1 - a)], [math.log(1 - a), math.log(a)]], dtype=torch.float64)
    entropy = -(a * math.log(a) + (1 - a) * math.log(1 - a))
    assert inception_scores(logits, splits=1)[0] == pytest.approx(math.exp(math.log(2) - entropy))


def test_is_std_is_over_the_splits_with_ddof_0():
    # Every row predicts its own class (K = N): a split of n rows has IS n, whatever the permutation.
    # N = 20 in 3 splits: chunks of 7, 7 and 6 rows.
    logits = 80.0 * torch.eye(20, dtype=torch.float64)
    mean, std = inception_scores(logits, splits=3)
    values = torch.tensor([7.0, 7.0, 6.0])
    assert mean == pytest.approx(float(values.mean())) and std == pytest.approx(float(values.std(unbiased=False)))


# ---- FID: closed forms ---------------------------------------------------------------------------------
def test_fid_of_identical_feature_sets_is_zero():
    f = torch.randn(500, 8, dtype=torch.float64)
    assert abs(scores(f, f, subset_size=100)["fid"]) < 1e-8


def test_fid_of_two_gaussians_with_known_mean_and_covariance():
    # ||mu1 - mu2||^2 + sum (sqrt s1 - sqrt s2)^2 for diagonal covariances
    mu1, s1 = [0.0, 0.0, 0.0], [1.0, 4.0, 9.0]
    mu2, s2 = [1.0, 1.0, 0.0], [4.0, 1.0, 1.0]
    real, fake = gaussian_features(300, mu1, s1, seed=1), gaussian_features(200, mu2, s2, seed=2)
    expected = 2.0 + sum((math.sqrt(a) - math.sqrt(b)) ** 2 for a, b in zip(s1, s2, strict=True))
    assert scores(real, fake, subset_size=100)["fid"] == pytest.approx(expected, rel=1e-9)


def test_fid_of_shifted_features_is_the_squared_shift():
    f = torch.randn(400, 6, dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0, 0.0, 3.0], dtype=torch.float64)
    assert scores(f, f + shift, subset_size=100)["fid"] == pytest.approx(float(shift.pow(2).sum()), rel=1e-8)


# ---- KID -----------------------------------------------------------------------------------------------
def test_kid_on_full_sets_is_the_unbiased_mmd_by_brute_force():
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    k = lambda a, b: (a @ b / 3 + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
    yy = sum(k(y[i], y[j]) for i in range(6) for j in range(6) if i != j) / 30
    xy = sum(k(x[i], y[j]) for i in range(6) for j in range(6)) / 36
    out = scores(x, y, subsets=3, subset_size=6)  # every subset is the full set
    assert out["kid"] == pytest.approx(float(xx + yy - 2 * xy), rel=1e-10) and out["kid_std"] < 1e-12


def test_kid_properties():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(600, 8, generator=g, dtype=torch.float64), torch.randn(600, 8, generator=g, dtype=torch.float64)
    kid = lambda real, fake: scores(real, fake, subsets=20, subset_size=300)["kid"]
    same, near, far = kid(a, b), kid(a, b + 0.5), kid(a, b + 1.0)
    assert abs(same) < 0.02 < near < far  # ~0 for one distribution, grows with the shift
    assert kid(a, b + 1.0) == far  # seeded subsets: reproducible
    # the subset size is capped by the sets: 50 generated features give 50-row subsets, not an error
    assert math.isfinite(scores(a, b[:50], subsets=2, subset_size=300)["kid"])


# ---- parity with torch-fidelity ------------------------------------------------------------------------
def test_scores_equal_torch_fidelitys_on_the_same_features():
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    g = torch.Generator().manual_seed(0)
    head = torch.randn(16, 7, generator=g, dtype=torch.float64) * 2
    real = torch.randn(600, 16, generator=g, dtype=torch.float64)
    fake = torch.randn(400, 16, generator=g, dtype=torch.float64) * 1.3 + 0.4
    ours = scores(real, fake, head, splits=10, subsets=5, subset_size=400)
    # IS splits after a random permutation: feed torch-fidelity the order ours draws (seed 0), unshuffled
    perm = torch.randperm(400, generator=torch.Generator().manual_seed(0))
    isc = isc_features_to_metric((fake @ head)[perm], splits=10, shuffle=False)
    fid = fid_statistics_to_metric(fid_features_to_statistics(real), fid_features_to_statistics(fake), False)
    # KID on full-size subsets (400 of 400 generated; the first 400 real features are the ones kept)
    kid = kid_features_to_metric(
        real[:400],
        fake,
        kid_subsets=5,
        kid_subset_size=400,
        verbose=False,
        rng_seed=0,
        kid_degree=3,
        kid_gamma=None,
        kid_coef0=1,
    )
    assert ours["inception_score"] == pytest.approx(isc["inception_score_mean"], rel=1e-9)
    assert ours["inception_score_std"] == pytest.approx(isc["inception_score_std"], rel=1e-9)
    assert ours["fid"] == pytest.approx(fid["frechet_inception_distance"], rel=1e-9)
    assert ours["kid"] == pytest.approx(kid["kernel_inception_distance_mean"], rel=1e-9)


class Uint8Images(torch.utils.data.Dataset):
    """Images (N, 3, H, W) uint8 as torch-fidelity reads an input: one (3, H, W) tensor per item."""

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


@pytest.fixture
def random_inception_weights(tmp_path, monkeypatch):
    """torch-fidelity's InceptionV3 with random weights, saved as a weights file (the real weights are not
    here, and nothing is downloaded). Its own initialisation shrinks the signal layer by layer until every
    image gets the same features (FID ~1e-12, IS 1); He-normal convolutions and an fc of std 2 keep the
    features and predictions of different images apart, so the parity below compares real numbers."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    empty = tmp_path / "empty.pth"
    torch.save({}, empty)
    with monkeypatch.context() as m:
        m.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    nn.init.normal_(net.fc.weight, std=2.0)
    path = tmp_path / INCEPTION_FILENAME
    torch.save(net.state_dict(), path)
    return path


def test_scores_equal_torch_fidelity_calculate_metrics_with_the_same_inception(random_inception_weights):
    import torch_fidelity

    g = torch.Generator().manual_seed(1)
    n = 20
    real_u8 = torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
    levels = torch.linspace(0, 1, n).view(-1, 1, 1, 1)  # a "generator" from black to bright, low contrast
    fake_u8 = (real_u8.float() * levels * 0.5 + 127.5 * levels).round().to(torch.uint8)
    to_unit = lambda u: u.float() / 127.5 - 1  # [-1, 1], which InceptionFeatures turns back into u exactly

    q = QualityScores(
        InceptionFeatures(random_inception_weights),
        to_unit(real_u8[:1]),
        splits=2,
        kid_subsets=2,
        kid_subset_size=n,
        sync=False,
    )
    for b in real_u8.split(10):
        q.update_real(to_unit(b))
    for b in fake_u8.split(10):
        q.update_fake(to_unit(b))
    ours = q.compute()

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))  # ours: IS splits of this order
    theirs = torch_fidelity.calculate_metrics(
        input1=Uint8Images(fake_u8[perm]),
        input2=Uint8Images(real_u8),
        isc=True,
        fid=True,
        kid=True,
        cuda=False,
        cache=False,
        verbose=False,
        batch_size=10,
        isc_splits=2,
        samples_shuffle=False,
        kid_subsets=2,
        kid_subset_size=n,
        feature_extractor_weights_path=str(random_inception_weights),
    )
    assert ours["inception_score"] > 1.05 and ours["fid"] > 1 and ours["kid"] > 1e-3  # not all-equal features
    assert ours["inception_score"] == pytest.approx(theirs["inception_score_mean"], rel=1e-3)
    assert ours["inception_score_std"] == pytest.approx(theirs["inception_score_std"], rel=1e-3)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-3)
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-3)
    print(
        {
            k: (ours[k], theirs[t])
            for k, t in [
                ("inception_score", "inception_score_mean"),
                ("inception_score_std", "inception_score_std"),
                ("fid", "frechet_inception_distance"),
                ("kid", "kernel_inception_distance_mean"),
            ]
        }
    )  # the parity numbers, with pytest -s


# ---- the real Inception: never downloaded ----------------------------------------------------------------
def test_missing_inception_weights_name_the_file_to_get(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        InceptionFeatures(tmp_path / "missing.pth")
    assert INCEPTION_URL in str(err.value) and INCEPTION_FILENAME in str(err.value)
    assert "metrics.inception_weights=" in str(err.value)


def test_inception_wrapper_plumbing_with_random_weights(tmp_path, monkeypatch):
    # The real weights are not here; check the wrapper's input conversion (grayscale, [-1, 1] -> uint8)
    # and output shapes on torch-fidelity's network with its random initialisation.
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    seen = {}
    forward = FeatureExtractorInceptionV3.forward

    def spy(self, x):
        seen["input"] = x
        return forward(self, x)

    monkeypatch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
    monkeypatch.setattr(FeatureExtractorInceptionV3, "forward", spy)
    weights = tmp_path / INCEPTION_FILENAME
    torch.save({}, weights)
    images = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3).expand(2, 1, 16, 3)  # (2, 1, 16, 3) grayscale
    out = InceptionFeatures(weights)(images)
    assert out["pool"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
    x = seen["input"]
    assert x.dtype == torch.uint8 and x.shape == (2, 3, 16, 3)
    assert x[0, :, 0].tolist() == [[0, 128, 255]] * 3  # -1 -> 0, 0 -> 127.5 rounds to 128, 1 -> 255


WEIGHTS = os.environ.get("WGANGP_INCEPTION_WEIGHTS") or str(default_inception_weights())


@pytest.mark.skipif(not os.path.isfile(WEIGHTS), reason=f"Inception weights not present at {WEIGHTS}")
def test_real_inception_gives_pool_features_and_logits():
    out = InceptionFeatures(WEIGHTS)(torch.rand(4, 3, 32, 32) * 2 - 1)
    assert out["pool"].shape == (4, 2048) and out["logits"].shape == (4, 1008)
    assert 1.0 <= inception_scores(out["logits"].double(), splits=2)[0] <= 1008


# ---- the image evaluators in training -------------------------------------------------------------------
def test_quality_evaluator_logs_on_schedule_and_caches_real_statistics(tiny_config, tmp_path):
    metrics = train(image_config(tiny_config, tmp_path, "generator_iters=4"))
    run = tmp_path / "run"
    rows = read_metrics(run)
    for name in [
        "val/inception_score",
        "val/inception_score_std",
        "val/fid",
        "val/kid",
        "val/kid_std",
        "val/wall_seconds",
        "val/quality_seconds",
        "val/w_estimate",
    ]:
        assert [int(r["step"]) for r in rows if r[name]] == [2, 4], name  # debug=fast: every 2 iterations
    fid = [float(r["val/fid"]) for r in rows if r["val/fid"]]
    assert all(f > 0 for f in fid) and 1 <= metrics["val/inception_score"] <= 5  # 5 stand-in classes
    wall = [float(r["val/wall_seconds"]) for r in rows if r["val/wall_seconds"]]
    assert 0 < wall[0] < wall[1]
    (stats,) = (tmp_path / "stats").glob("TinyImageData-train-tiny-n40-*.pt")
    state = torch.load(stats, weights_only=True)
    assert set(state) == {"real_features_sum", "real_features_cov_sum", "real_features_num_samples", "kid_features"}
    assert int(state["real_features_num_samples"]) == 40 and state["kid_features"].shape == (10, 16)  # debug=fast

    # A second run reuses the cached statistics file instead of recomputing it.
    mtime = stats.stat().st_mtime_ns
    again = train(image_config(tiny_config, tmp_path, "generator_iters=2", run_dir=tmp_path / "again"))
    assert stats.stat().st_mtime_ns == mtime
    assert again["val/fid"] == pytest.approx(fid[0], rel=1e-6)  # same seed, same statistics: same FID at 2

    # Sample grids of the fixed z: every 2 iterations and at the end.
    for name in ["samples/samples_0000002.png", "samples/samples_0000004.png", "samples.png", "w_estimate.png"]:
        assert (run / name).stat().st_size > 100, name


def test_image_evaluators_are_not_run_on_toy_data(tiny_config, tmp_path):
    # The default extractor (real Inception) would fail without weights if it were ever built.
    train(tiny_config("generator_iters=2", "metrics.inception_weights=/nonexistent.pth"))
    rows = read_metrics(tmp_path / "run")
    assert "val/fid" not in rows[0] and "val/w1" in rows[0] and not (tmp_path / "run/samples").exists()


def test_missing_inception_weights_turn_the_scores_off_and_training_goes_on(tiny_config, tmp_path, caplog):
    cfg = image_config(tiny_config, tmp_path, "generator_iters=2")
    with open_dict(cfg):
        cfg.evaluators.quality.extractor = OmegaConf.create(
            {
                "_target_": "wgangp.metrics.features.InceptionFeatures",
                "_partial_": True,
                "weights_path": str(tmp_path / "missing.pth"),
            }
        )
    metrics = train(cfg)
    assert "val/fid" not in metrics and "val/w_estimate" in metrics
    assert "IS/FID/KID are off" in caplog.text and INCEPTION_URL in caplog.text


# ---- src/eval.py ----------------------------------------------------------------------------------------
def test_eval_scores_a_checkpoint_and_writes_json_next_to_it(tiny_config, tmp_path):
    train(image_config(tiny_config, tmp_path, "generator_iters=2"))
    ckpt = tmp_path / "run/checkpoints/last.ckpt"
    tests_dir = str(Path(__file__).parent)
    out = run_cli(
        "eval.py",
        f"ckpt_path={ckpt}",
        "num_samples=30",
        "num_real=50",
        "batch_size=10",
        "kid_subsets=3",
        "kid_subset_size=20",
        f"metrics.stats_dir={tmp_path / 'stats'}",
        f"metrics.extractor._target_={__name__}.TinyExtractor",
        "--config-dir",  # the user's config directory: its classes may be rebuilt from the checkpoint
        str(trust_targets(tmp_path / "user_conf", *TINY_TARGETS)),
        env={"PYTHONPATH": os.pathsep.join([tests_dir, os.environ.get("PYTHONPATH", "")])},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "run/checkpoints/last.eval.json").read_text())
    assert result["generator_iter"] == 2 and result["num_samples"] == 30 and result["extractor"] == "tiny"
    assert 1 <= result["inception_score"] <= 5 and result["fid"] > 0 and math.isfinite(result["kid"])
    assert Path(result["stats_path"]).is_file() and "n50" in result["stats_path"]
    assert {"inception_score_std", "kid_std", "num_real", "split", "seed", "seconds", "ckpt_path"} <= set(result)


def test_eval_of_a_toy_run_reports_w1(tiny_config, tmp_path):
    train(tiny_config("generator_iters=2"))
    ckpt = tmp_path / "run/checkpoints/last.ckpt"
    out = run_cli("eval.py", f"ckpt_path={ckpt}", "w1_points=200", f"out={tmp_path / 'toy.json'}")
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "toy.json").read_text())
    assert result["w1_points"] == 200 and 0 < result["w1"] < 10 and "w_estimate" in result


def test_wall_clock_continues_across_a_resume(tiny_config, tmp_path):
    train(image_config(tiny_config, tmp_path, "generator_iters=2", run_dir=tmp_path / "first"))
    ckpt_path = tmp_path / "first/checkpoints/last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=False)
    (state,) = [v for k, v in ckpt["callbacks"].items() if "PeriodicEvaluation" in k]
    assert state["wall_seconds"] > 0
    state["wall_seconds"] = 1000.0  # pretend the first part took 1000 s
    torch.save(ckpt, ckpt_path)
    train(
        image_config(tiny_config, tmp_path, "generator_iters=4", f"ckpt_path={ckpt_path}", run_dir=tmp_path / "resumed")
    )
    rows = [r for r in read_metrics(tmp_path / "resumed") if r["val/wall_seconds"]]
    assert [int(r["step"]) for r in rows] == [4]
    assert 1000 < float(rows[0]["val/wall_seconds"]) < 1100  # the clock starts where the checkpoint left it
