"""IS / FID / KID against closed forms; the quality and sample-grid callbacks on a tiny image problem."""

import csv
import json
import math
import os
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf, open_dict
from torch import nn

from conftest import run_cli
from wgangp.data.base import GANDataModule
from wgangp.metrics.features import INCEPTION_FILENAME, INCEPTION_URL, InceptionFeatures, default_inception_weights
from wgangp.metrics.quality import (
    feature_statistics,
    fid_from_features,
    frechet_distance,
    inception_score,
    kid_from_features,
    polynomial_mmd2_unbiased,
)
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
    def __init__(self, data_shape):
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


def image_config(tiny_config, tmp_path, *overrides, run_dir=None):
    cfg = tiny_config(*overrides, f"metrics.stats_dir={tmp_path / 'stats'}", run_dir=run_dir)
    with open_dict(cfg):
        cfg.data = OmegaConf.create({"_target_": f"{__name__}.TinyImageData", "batch_size": 8})
        cfg.model.generator = OmegaConf.create({"_target_": f"{__name__}.TinyGenerator"})
        cfg.model.critic = OmegaConf.create({"_target_": f"{__name__}.TinyCritic"})
        cfg.metrics.extractor = OmegaConf.create({"_target_": f"{__name__}.TinyExtractor", "_partial_": True})
    return cfg


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


# ---- Inception Score -----------------------------------------------------------------------------------
def test_is_of_uniform_predictions_is_one():
    mean, std = inception_score(torch.full((100, 7), 1 / 7), splits=10)
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)


def test_is_of_confident_predictions_over_k_equally_used_classes_is_k():
    probs = torch.eye(5).repeat(40, 1)  # (200, 5): each split of 20 holds every class 4 times
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(5.0) and std == pytest.approx(0.0, abs=1e-9)


def test_is_closed_form_for_a_mixed_split():
    # One split, two samples p1 = (a, 1-a), p2 = (1-a, a): p(y) = (1/2, 1/2), KL = log 2 - H(a) for both.
    a = 0.9
    probs = torch.tensor([[a, 1 - a], [1 - a, a]])
    entropy = -(a * math.log(a) + (1 - a) * math.log(1 - a))
    assert inception_score(probs, splits=1)[0] == pytest.approx(math.exp(math.log(2) - entropy))


def test_is_std_is_over_the_splits():
    # First half one-hot over 4 classes (IS 4), second half uniform (IS 1): two splits -> mean 2.5, std 1.5.
    probs = torch.cat([torch.eye(4).repeat(5, 1), torch.full((20, 4), 0.25)])
    mean, std = inception_score(probs, splits=2)
    assert mean == pytest.approx(2.5) and std == pytest.approx(1.5)


# ---- FID -----------------------------------------------------------------------------------------------
def test_fid_of_identical_feature_sets_is_zero():
    f = torch.randn(500, 8)
    assert abs(fid_from_features(f, f)) < 1e-8


def test_fid_of_shifted_gaussians_is_the_squared_shift():
    f = torch.randn(400, 6, dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0, 0.0, 3.0], dtype=torch.float64)
    assert fid_from_features(f, f + shift) == pytest.approx(float(shift.pow(2).sum()), rel=1e-8)


def test_frechet_distance_closed_form_for_diagonal_covariances():
    # sum (s1 - s2)^2 over the standard deviations when both covariances are diagonal
    s1, s2 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 1.0])
    mu1, mu2 = torch.zeros(3), torch.tensor([1.0, 1.0, 0.0])
    expected = 2.0 + float((s1.sqrt() - s2.sqrt()).pow(2).sum())
    assert frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2)) == pytest.approx(expected)


def test_feature_statistics_match_torch_cov():
    f = torch.randn(50, 4)
    mu, sigma = feature_statistics(f)
    torch.testing.assert_close(mu, f.double().mean(0))
    torch.testing.assert_close(sigma, torch.cov(f.double().T))


# ---- KID -----------------------------------------------------------------------------------------------
def test_kid_unbiased_mmd_matches_a_brute_force_sum():
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    k = lambda a, b: (a @ b / 3 + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    xy = sum(k(x[i], y[j]) for i in range(6) for j in range(5)) / 30
    torch.testing.assert_close(polynomial_mmd2_unbiased(x, y), xx + yy - 2 * xy)


def test_kid_properties():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(600, 8, generator=g), torch.randn(600, 8, generator=g)
    same, _ = kid_from_features(a, b, subsets=20, subset_size=300)
    near, _ = kid_from_features(a, b + 0.5, subsets=20, subset_size=300)
    far, _ = kid_from_features(a, b + 1.0, subsets=20, subset_size=300)
    assert abs(same) < 0.02 < near < far  # ~0 for one distribution, grows with the shift
    assert kid_from_features(a, b + 1.0, subsets=20, subset_size=300) == (far, _)  # seeded: reproducible
    ab = kid_from_features(a, b, subsets=1, subset_size=600)[0]
    assert ab == pytest.approx(kid_from_features(b, a, subsets=1, subset_size=600)[0])  # symmetric on full sets


# ---- the real Inception: never downloaded ----------------------------------------------------------------
def test_missing_inception_weights_name_the_file_to_get(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
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
    assert 1.0 <= inception_score(out["logits"].softmax(1), splits=2)[0] <= 1008


# ---- callbacks -----------------------------------------------------------------------------------------
def test_quality_callback_logs_on_schedule_and_caches_real_statistics(tiny_config, tmp_path):
    metrics = train(image_config(tiny_config, tmp_path, "generator_iters=4"))
    run = tmp_path / "run"
    rows = read_metrics(run)
    for name in ["val/inception_score", "val/inception_score_std", "val/fid", "val/kid", "val/wall_seconds"]:
        assert [int(r["step"]) for r in rows if r[name]] == [2, 4], name  # debug=fast: every 2 iterations
    fid = [float(r["val/fid"]) for r in rows if r["val/fid"]]
    assert all(f > 0 for f in fid) and 1 <= metrics["val/inception_score"] <= 5  # 5 stand-in classes
    wall = [float(r["val/wall_seconds"]) for r in rows if r["val/wall_seconds"]]
    assert 0 < wall[0] < wall[1]
    (stats,) = (tmp_path / "stats").glob("TinyImageData-train-tiny-n40-*.pt")
    assert set(torch.load(stats)) == {"mu", "sigma", "kid_features"}

    # A second run reuses the cached statistics file instead of recomputing it.
    mtime = stats.stat().st_mtime_ns
    train(image_config(tiny_config, tmp_path, "generator_iters=2", run_dir=tmp_path / "again"))
    assert stats.stat().st_mtime_ns == mtime

    # Sample grids of the fixed z: every 2 iterations and at the end.
    for name in ["samples/samples_0000002.png", "samples/samples_0000004.png", "samples.png"]:
        assert (run / name).stat().st_size > 100, name


def test_quality_and_grid_callbacks_are_off_on_toy_data(tiny_config, tmp_path):
    # The default extractor (real Inception) would fail without weights if it were ever built.
    train(tiny_config("generator_iters=2", "metrics.inception_weights=/nonexistent.pth"))
    rows = read_metrics(tmp_path / "run")
    assert "val/fid" not in rows[0] and not (tmp_path / "run/samples").exists()


# ---- src/eval.py ----------------------------------------------------------------------------------------
def test_eval_scores_a_checkpoint_and_writes_json_next_to_it(tiny_config, tmp_path):
    train(image_config(tiny_config, tmp_path, "generator_iters=2"))
    ckpt = tmp_path / "run/checkpoints/last.ckpt"
    tests_dir = str(Path(__file__).parent)
    out = run_cli(
        "eval.py", f"ckpt_path={ckpt}", "num_samples=30", "num_real=50", "batch_size=10", "kid_subsets=3",
        "kid_subset_size=20", f"metrics.stats_dir={tmp_path / 'stats'}",
        f"metrics.extractor._target_={__name__}.TinyExtractor",
        env={"PYTHONPATH": os.pathsep.join([tests_dir, os.environ.get("PYTHONPATH", "")])},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "run/checkpoints/last.eval.json").read_text())
    assert result["generator_iter"] == 2 and result["num_samples"] == 30 and result["extractor"] == "tiny"
    assert 1 <= result["inception_score"] <= 5 and result["fid"] > 0 and math.isfinite(result["kid"])
    assert Path(result["stats_path"]).is_file() and "n50" in result["stats_path"]


def test_eval_of_a_toy_run_reports_w1(tiny_config, tmp_path):
    train(tiny_config("generator_iters=2"))
    ckpt = tmp_path / "run/checkpoints/last.ckpt"
    out = run_cli("eval.py", f"ckpt_path={ckpt}", "num_samples=200", f"out={tmp_path / 'toy.json'}")
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "toy.json").read_text())
    assert result["num_samples"] == 200 and 0 < result["w1"] < 10


def test_wall_clock_continues_across_a_resume(tiny_config, tmp_path):
    train(image_config(tiny_config, tmp_path, "generator_iters=2", run_dir=tmp_path / "first"))
    ckpt_path = tmp_path / "first/checkpoints/last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=False)
    (state,) = [v for k, v in ckpt["callbacks"].items() if "QualityMetrics" in k]
    assert state["wall_seconds"] > 0
    state["wall_seconds"] = 1000.0  # pretend the first part took 1000 s
    torch.save(ckpt, ckpt_path)
    train(image_config(tiny_config, tmp_path, "generator_iters=4", f"ckpt_path={ckpt_path}",
                       run_dir=tmp_path / "resumed"))
    rows = [r for r in read_metrics(tmp_path / "resumed") if r["val/wall_seconds"]]
    assert [int(r["step"]) for r in rows] == [4]
    assert 1000 < float(rows[0]["val/wall_seconds"]) < 1100  # the clock starts where the checkpoint left it
