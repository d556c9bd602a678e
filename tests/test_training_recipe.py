"""App. F's training recipe and the generator average: lr decay, the generator batch, generator EMA.

objective.lr_decay=linear multiplies both players' configured lr by max(0, 1 - it/total) at generator
iteration it; objective.generator_batch_size sets the z of a generator step; objective.generator_ema keeps
an exponential average of the generator that checkpoints hold and every evaluator scores (val/ema/...).
"""

from __future__ import annotations

import csv

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from conftest import trust_targets
from wgangp.errors import UserInputError
from wgangp.nets.mlp import MLPGenerator
from wgangp.rng import EVAL, step_generator
from wgangp.sampling import sample
from wgangp.schedules import lr_factor
from wgangp.train import train


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _part(state, prefix):
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def test_linear_factor_is_app_f_closed_form():
    total = 8
    assert lr_factor("linear", 0, total) == 1.0
    assert [lr_factor("linear", it, total) for it in range(total + 3)] == [
        max(0.0, 1 - it / total) for it in range(total + 3)
    ]
    assert lr_factor("linear", total - 1, total) == pytest.approx(1 / total)  # the last iteration trains
    assert lr_factor("linear", total, total) == 0.0 and lr_factor("linear", 5 * total, total) == 0.0
    assert lr_factor("none", 10**6, total) == 1.0
    with pytest.raises(ValueError, match="cosine"):
        lr_factor("cosine", 0, total)


def test_linear_decay_scales_each_players_own_lr_and_logs_the_generators(tiny_config, tmp_path):
    """generator Adam(2e-4) and critic Adam(1e-4), 4 iterations: iteration k trains at base * (1 - k/4)."""
    run = tmp_path / "run"
    train(tiny_config("objective.lr_decay=linear", "+optimizer@objective.generator_optimizer=adam_dcgan", run_dir=run))
    logged = [(int(r["step"]), float(r["train/lr"])) for r in _rows(run) if r.get("train/lr")]
    assert logged == [(s, pytest.approx(2e-4 * (1 - (s - 1) / 4))) for s in (1, 2, 3, 4)]  # row s: iteration s-1
    g, d = (s["param_groups"][0] for s in _load(run / "checkpoints/last.ckpt")["optimizer_states"])
    assert (g["lr"], g["initial_lr"]) == (pytest.approx(2e-4 / 4), 2e-4)  # the last iteration's lr
    assert (d["lr"], d["initial_lr"]) == (pytest.approx(1e-4 / 4), 1e-4)


def test_a_resumed_run_continues_the_schedule_and_the_average_bit_exactly(tiny_config, tmp_path):
    """Straight 4 iterations vs the same run resumed from its iteration-2 checkpoint: identical weights,
    weight average and optimizer state (the resume sets iteration 2's lr, not the configured one)."""
    common = ["objective.lr_decay=linear", "objective.generator_ema=0.9", "generator_iters=4"]
    straight = tmp_path / "straight"
    train(tiny_config(*common, run_dir=straight))
    resumed = tmp_path / "resumed"
    train(tiny_config(*common, f"ckpt_path={straight / 'checkpoints/iter_0000002.ckpt'}", run_dir=resumed))
    a, b = _load(straight / "checkpoints/last.ckpt"), _load(resumed / "checkpoints/last.ckpt")
    assert any(k.startswith("ema_generator.module.") for k in a["state_dict"])
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    for sa, sb in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        assert sa["param_groups"][0]["lr"] == sb["param_groups"][0]["lr"]
        for k, state in sa["state"].items():
            assert all(torch.equal(v, sb["state"][k][n]) for n, v in state.items())
    # and the scheduled lr really changed the training: a constant-lr run ends elsewhere
    train(tiny_config("objective.generator_ema=0.9", "generator_iters=4", run_dir=tmp_path / "constant"))
    c = _load(tmp_path / "constant/checkpoints/last.ckpt")["state_dict"]
    assert not torch.equal(c["generator.net.0.weight"], a["state_dict"]["generator.net.0.weight"])


class RowCountingGenerator(MLPGenerator):
    """Records the rows of every forward that builds a graph: in training, only the generator step's."""

    rows: list[int] = []

    def forward(self, z):
        if torch.is_grad_enabled():
            RowCountingGenerator.rows.append(z.size(0))
        return super().forward(z)


def test_the_generator_step_draws_generator_batch_size_latents(tiny_config, tmp_path):
    RowCountingGenerator.rows = []
    run = tmp_path / "run"
    cfg = tiny_config(
        "objective.generator_batch_size=40", f"model.generator._target_={__name__}.RowCountingGenerator", run_dir=run
    )
    assert cfg.data.batch_size == 16
    train(cfg)
    # (wgangp.memory's probe forwards come first, before training) one generator step per iteration, 40 rows
    assert RowCountingGenerator.rows[-5:] == [4, 40, 40, 40, 40]
    # the loss is the mean over those 40 rows: a null generator_batch_size trains with the critic's 16 instead
    RowCountingGenerator.rows = []
    train(tiny_config(f"model.generator._target_={__name__}.RowCountingGenerator", run_dir=tmp_path / "m"))
    assert RowCountingGenerator.rows[-5:] == [4, 16, 16, 16, 16]
    # a checkpoint without a weight average cannot sample one
    trust_targets(tmp_path / "user_conf", f"{__name__}.RowCountingGenerator")
    with pytest.raises(UserInputError, match="holds no weight average"):
        sample(run / "checkpoints/last.ckpt", 4, ema=True)


class BatchNormGenerator(MLPGenerator):
    """The toy generator behind a batch norm of z, so the average has running statistics to keep."""

    def __init__(self, data_shape, **kwargs):
        super().__init__(data_shape, **kwargs)
        self.norm = nn.BatchNorm1d(self.latent_dim)

    def forward(self, z):
        return super().forward(self.norm(z))


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    """3 iterations with decay 0.5 and averaging from iteration 1 on, a checkpoint after every iteration."""
    from conftest import TINY
    from wgangp.build import compose_config

    run = tmp_path_factory.mktemp("ema") / "run"
    trust_targets(run.parent / "user_conf", f"{__name__}.BatchNormGenerator")  # sampled and scored from its checkpoint
    overrides = [
        "generator_iters=3",
        "objective.generator_ema=0.5",
        "objective.generator_ema_start=1",
        "callbacks.checkpoint.every_n_iters=1",
        f"model.generator._target_={__name__}.BatchNormGenerator",
    ]
    train(compose_config(run, [*TINY, *overrides]))
    return run


def test_the_average_is_the_closed_form_of_the_generators_weights_and_statistics(ema_run):
    """e_1 = w_1 (copied up to generator_ema_start=1), e_2 = (e_1 + w_2) / 2, e_3 = (e_2 + w_3) / 2: parameters
    and batch norm running statistics alike."""
    states = [_load(ema_run / f"checkpoints/iter_{n:07d}.ckpt")["state_dict"] for n in (1, 2, 3)]
    raw = [_part(s, "generator.") for s in states]
    ema = [_part(s, "ema_generator.module.") for s in states]
    assert raw[0].keys() == ema[0].keys() and "norm.running_mean" in raw[0]
    expected = dict(raw[0])
    for n in range(3):
        if n > 0:
            expected = {k: 0.5 * expected[k] + 0.5 * raw[n][k] for k in expected if k != "norm.num_batches_tracked"}
        for k, v in expected.items():
            torch.testing.assert_close(ema[n][k], v, rtol=1e-6, atol=1e-7, msg=f"{k} after iteration {n + 1}")
    assert not torch.equal(raw[1]["net.0.weight"], raw[2]["net.0.weight"])  # the generator trained
    assert not torch.equal(ema[2]["norm.running_mean"], raw[2]["norm.running_mean"])


def test_every_evaluator_scores_the_average_too_and_writes_its_files_apart(ema_run):
    rows = [r for r in _rows(ema_run) if r.get("val/w1")]
    assert [int(r["step"]) for r in rows] == [2, 3]
    for r in rows:
        assert r["val/ema/w1"] and r["val/ema/w_estimate"] and r["val/ema/w1_seconds"]
        assert float(r["val/ema/w1"]) != float(r["val/w1"])
    assert (ema_run / "ema/value_surface.png").is_file() and (ema_run / "ema/w1_curve.png").is_file()
    assert (ema_run / "value_surface.png").is_file()


def test_sampling_takes_the_average_by_default_and_the_raw_generator_on_request(ema_run):
    ckpt = ema_run / "checkpoints/last.ckpt"
    state = _load(ckpt)
    generator = instantiate(state["wgangp"]["run_config"]["model"]["generator"], data_shape=(2,))
    generator.load_state_dict(_part(state["state_dict"], "ema_generator.module."))
    z = torch.randn(8, generator.latent_dim, generator=step_generator(0, 0, EVAL))
    with torch.no_grad():
        by_hand = generator.eval()(z)
    averaged = sample(ckpt, 8, ema=True)
    torch.testing.assert_close(averaged, by_hand, rtol=0, atol=0)
    assert torch.equal(sample(ckpt, 8), averaged)  # ema=None: the average, which this checkpoint has
    assert not torch.equal(sample(ckpt, 8, ema=False), averaged)


def test_eval_scores_the_average_or_the_raw_generator_and_records_which(ema_run, tmp_path):
    from hydra import compose, initialize_config_dir

    from wgangp.build import CONF_DIR
    from wgangp.eval import evaluate

    results = {}
    ckpt = ema_run / "checkpoints/last.ckpt"
    for ema in ("true", "false"):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("eval", [f"ckpt_path={ckpt}", f"ema={ema}", "w1_points=64", f"out={tmp_path}/e.json"])
        results[ema] = evaluate(cfg)
    assert results["true"]["ema"] is True and results["false"]["ema"] is False
    assert results["true"]["w1"] != results["false"]["w1"]
