"""The mode-collapse measure of the toy mixtures (Unrolled GAN, VEEGAN, PacGAN): constructed samples with
known modes and known outliers, and the evaluator logged beside W1 in a training run."""

import csv

import torch

from wgangp.data.toy import EightGaussians, TwentyFiveGaussians
from wgangp.metrics.modes import mode_coverage
from wgangp.train import train


def test_mode_centres_and_std_are_those_the_samples_are_drawn_from():
    for dist, k in [(EightGaussians(), 8), (TwentyFiveGaussians(), 25)]:
        points = dist.sample(20_000, torch.Generator().manual_seed(0))["real"]  # (n, 2)
        nearest = torch.cdist(points, dist.centres).min(1)
        assert dist.centres.shape == (k, 2) and torch.bincount(nearest.indices, minlength=k).min() > 0.8 * 20_000 / k
        # per-axis offsets from the centre are N(0, std^2)
        offsets = points - dist.centres[nearest.indices]
        torch.testing.assert_close(offsets.std(0), torch.full((2,), dist.std), rtol=0.03, atol=0)
        modes, high_quality = mode_coverage(points, dist.centres, dist.std)
        assert modes == k
        # within 3 std of the centre in 2-d: P(chi2_2 <= 9) = 1 - exp(-4.5)
        assert abs(high_quality - (1 - torch.exp(torch.tensor(-4.5)).item())) < 0.003


def test_constructed_sample_with_known_modes_and_outliers():
    dist = TwentyFiveGaussians()
    centres, std = dist.centres, dist.std
    # 30 points on each of modes 0..6, 19 on mode 7 (below the 20 of PacGAN's convention), 40 outliers:
    # 20 far away, 20 at 3.5 std from mode 8 (near a mode, but not high quality)
    g = torch.Generator().manual_seed(1)
    on_mode = [centres[i] + 0.5 * std * torch.randn(30, 2, generator=g).clamp(-2, 2) for i in range(7)]
    few = centres[7] + torch.zeros(19, 2)
    far = torch.full((20, 2), 10.0)
    angle = torch.rand(20, generator=g) * 6.283
    near_miss = centres[8] + 3.5 * std * torch.stack([angle.cos(), angle.sin()], 1)
    points = torch.cat([*on_mode, few, far, near_miss])  # 210 + 19 + 40 = 269 points
    modes, high_quality = mode_coverage(points, centres, std, min_count=20)
    assert modes == 7
    assert high_quality == (210 + 19) / 269
    assert mode_coverage(points, centres, std, min_count=19)[0] == 8
    assert mode_coverage(points, centres, std, n_std=4.0) == (8, (210 + 19 + 20) / 269)  # the near misses cover mode 8


def test_modes_are_logged_beside_w1_on_both_mixtures(tiny_config, tmp_path):
    for data in ["8gaussians", "25gaussians"]:
        metrics = train(tiny_config(f"data={data}", "generator_iters=2", run_dir=tmp_path / data))
        assert {"val/w1", "val/modes", "val/high_quality"} <= set(metrics)
        assert 0 <= metrics["val/modes"] <= (8 if data == "8gaussians" else 25)
        assert 0 <= metrics["val/high_quality"] <= 1
        with open(tmp_path / data / "metrics.csv", newline="") as f:
            assert [int(r["step"]) for r in csv.DictReader(f) if r.get("val/modes")] == [2]
