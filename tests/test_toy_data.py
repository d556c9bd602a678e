import math

import torch

from conftest import set_up
from wgangp.data.stream import StepSampler, StepStream
from wgangp.data.toy import EightGaussians, SwissRoll, ToyDataModule, TwentyFiveGaussians


def rng(seed=0):
    return torch.Generator().manual_seed(seed)


def test_eight_gaussians_centres_scale_and_spread():
    x = EightGaussians().sample(20000, rng())["real"]
    radius = x.norm(dim=1) * 1.414
    torch.testing.assert_close(radius.mean(), torch.tensor(2.0), atol=2e-3, rtol=0)
    angle = torch.atan2(x[:, 1], x[:, 0]) / (math.pi / 4)
    assert (angle - angle.round()).abs().max() < 0.1  # on the 8 directions
    counts = torch.bincount(angle.round().long() % 8, minlength=8).float()
    assert (counts / counts.sum() - 1 / 8).abs().max() < 0.015


def test_twenty_five_gaussians_grid():
    x = TwentyFiveGaussians().sample(20000, rng())["real"] * 2.828
    centre = x.div(2).round().mul(2)
    assert set(centre.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    torch.testing.assert_close((x - centre).std(), torch.tensor(0.05), atol=3e-3, rtol=0)


def test_swiss_roll_range_and_noise():
    x = SwissRoll().sample(20000, rng())["real"] * 7.5
    r = x.norm(dim=1)
    assert 1.5 * math.pi - 1.5 < r.min() and r.max() < 4.5 * math.pi + 1.5


def test_stream_is_fresh_per_step_and_reproducible():
    sampler = StepSampler(EightGaussians(), seed=3, batches=5, batch_size=8)
    a, b = sampler(0)["real"], sampler(1)["real"]
    assert a.shape == (5, 8, 2)
    assert not torch.equal(a[0], a[1]) and not torch.equal(a, b)
    assert torch.equal(a, sampler(0)["real"])
    stream = iter(StepStream(sampler, start=1))
    assert torch.equal(next(stream)["real"], b)


def test_ddp_ranks_slice_one_global_batch():
    one = StepSampler(SwissRoll(), seed=1, batches=2, batch_size=8)(4)["real"]
    parts = [StepSampler(SwissRoll(), seed=1, batches=2, batch_size=4, rank=r, world_size=2)(4)["real"] for r in (0, 1)]
    assert torch.equal(torch.cat(parts, dim=1), one)


def test_dataloader_workers_do_not_change_the_stream():
    dm = set_up(ToyDataModule(EightGaussians(), batch_size=4, batches_per_step=2, seed=5))
    in_process = [b["real"] for _, b in zip(range(6), dm.train_dataloader(), strict=False)]
    dm_workers = set_up(ToyDataModule(EightGaussians(), batch_size=4, batches_per_step=2, seed=5, num_workers=2))
    with_workers = [b["real"] for _, b in zip(range(6), dm_workers.train_dataloader(), strict=False)]
    assert all(torch.equal(a, b) for a, b in zip(in_process, with_workers, strict=True))
