"""The periodic evaluation callback: schedule, one evaluation per iteration, rank-0 gating, the wall
clock across a real resume, callback_metrics; on real toy runs composed from conf/."""

import csv
from types import SimpleNamespace

import pytest
import torch
import yaml
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf, open_dict
from torch import nn

from conftest import CONF_DIR, compose_config, conf_options
from wgangp.evaluation.base import Evaluator
from wgangp.evaluation.callback import PeriodicEvaluation
from wgangp.train import train

CALLS: list[tuple[str, int]] = []  # (hook, generator iteration) of the Probe evaluators of a run
TRAINER: list = []  # the trainer of the run, recorded by RecordTrainer


class RecordTrainer(Callback):
    def setup(self, trainer, pl_module, stage):
        TRAINER[:] = [trainer]


class Probe(Evaluator):
    """Records when it is called; `val/probe` is the generator's mean output on a fixed z. The generator
    iteration of each evaluation is read from the trainer (`TRAINER`): an evaluator itself never sees it."""

    def setup(self, datamodule, context):
        self.z = torch.randn(8, context.latent_dim, generator=torch.Generator().manual_seed(0))
        CALLS.append(("setup", -1))

    def evaluate(self, generator, critic):
        assert not generator.training and not critic.training and not torch.is_grad_enabled()
        CALLS.append(("evaluate", TRAINER[0].lightning_module.generator_iter))
        return {"val/probe": float(generator(self.z).mean())}

    def write(self, step):
        CALLS.append(("write", step))
        return []

    def finish(self, step):
        CALLS.append(("finish", step))
        return []


def probe_config(tiny_config, *overrides, **probe):
    cfg = tiny_config(*overrides)
    with open_dict(cfg):
        cfg.evaluators.probe = OmegaConf.create({"_target_": f"{__name__}.Probe", **probe})
        cfg.callbacks.record_trainer = OmegaConf.create({"_target_": f"{__name__}.RecordTrainer"})
    return cfg


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


def test_schedule_lands_at_exact_iterations_whatever_log_every_n_steps(tiny_config, tmp_path):
    cfg = probe_config(tiny_config, "generator_iters=7", "trainer.log_every_n_steps=3", every_n_iters=3, at_start=True)
    metrics = train(cfg)
    # at the start, every 3 generator iterations, and once at the end (7); write after each, finish once
    assert CALLS == [
        ("setup", -1),
        ("evaluate", 0),
        ("write", 0),
        ("evaluate", 3),
        ("write", 3),
        ("evaluate", 6),
        ("write", 6),
        ("evaluate", 7),
        ("write", 7),
        ("finish", 7),
    ]
    rows = read_metrics(tmp_path / "run")
    assert [int(r["step"]) for r in rows if r["val/probe"]] == [0, 3, 6, 7]
    assert [int(r["step"]) for r in rows if r["val/w1"]] == [2, 4, 6, 7]  # debug=fast's w1: every 2, and the end
    assert [int(r["step"]) for r in rows if r["train/critic_loss"]] == [3, 6]  # the objective's, every 3
    # every value is in callback_metrics, which train() returns and the sweeps score
    assert {"val/probe", "val/probe_seconds", "val/w1", "val/w1_seconds", "val/w_estimate", "val/wall_seconds"} <= set(
        metrics
    )
    last = [r for r in rows if r["val/probe"]][-1]
    assert metrics["val/probe"] == pytest.approx(float(last["val/probe"]))


def test_an_iteration_is_evaluated_once(tiny_config, tmp_path):
    train(probe_config(tiny_config, "generator_iters=4", every_n_iters=2))
    # the end of training at 4, already evaluated, only finishes
    assert CALLS == [("setup", -1), ("evaluate", 2), ("write", 2), ("evaluate", 4), ("write", 4), ("finish", 4)]
    rows = read_metrics(tmp_path / "run")
    assert [int(r["step"]) for r in rows if r["val/probe"]] == [2, 4]


def test_every_n_iters_0_evaluates_at_the_end_only(tiny_config, tmp_path):
    train(probe_config(tiny_config, "generator_iters=3", every_n_iters=0))
    assert [c for c in CALLS if c[0] != "setup"] == [("evaluate", 3), ("write", 3), ("finish", 3)]


class AllRanks(Probe):
    all_ranks = True


def test_only_all_ranks_evaluators_run_off_rank_0():
    callback = PeriodicEvaluation(
        {"rank0": Probe(), "everywhere": AllRanks(), "unselected": {"every_n_iters": 2}, "off": None}
    )
    assert set(callback.evaluators) == {"rank0", "everywhere"}  # settings without an evaluator are dropped
    objective = SimpleNamespace(seed=0, generator=nn.Linear(2, 2), run_config={})
    objective.generator.latent_dim = 2
    trainer = SimpleNamespace(datamodule=None, default_root_dir="run", strategy=SimpleNamespace(root_device="cpu"))
    callback.setup(SimpleNamespace(is_global_zero=False, **vars(trainer)), objective, "fit")
    assert set(callback._active) == {"everywhere"}
    callback.setup(SimpleNamespace(is_global_zero=True, **vars(trainer)), objective, "fit")
    assert set(callback._active) == {"rank0", "everywhere"}


def test_wall_clock_and_curves_continue_across_a_real_resume(tiny_config, tmp_path):
    first = tmp_path / "first"
    train(tiny_config("generator_iters=2", run_dir=first))
    ckpt_path = first / "checkpoints/last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=False)
    (state,) = [v for k, v in ckpt["callbacks"].items() if "PeriodicEvaluation" in k]
    assert state["wall_seconds"] > 0 and [k for k, _ in state["evaluators"]["w1"]["history"]] == [2]
    state["wall_seconds"] = 1000.0  # pretend the first part took 1000 s
    torch.save(ckpt, ckpt_path)
    resumed = tmp_path / "resumed"
    train(tiny_config("generator_iters=6", f"ckpt_path={ckpt_path}", run_dir=resumed))
    rows = [r for r in read_metrics(resumed) if r["val/wall_seconds"]]
    assert [int(r["step"]) for r in rows] == [4, 6]
    wall = [float(r["val/wall_seconds"]) for r in rows]
    assert 1000 < wall[0] < wall[1] < 1100  # the clock starts where the checkpoint left it
    final = torch.load(resumed / "checkpoints/last.ckpt", weights_only=False)
    (state,) = [v for k, v in final["callbacks"].items() if "PeriodicEvaluation" in k]
    assert [k for k, _ in state["evaluators"]["w1"]["history"]] == [2, 4, 6]  # w1_curve.png spans both parts


@pytest.mark.slow  # three processes: about 25-45 s on two cores
def test_quality_scores_under_ddp_equal_one_process(tmp_path):
    # Two gloo processes each score half of the generated images; torchmetrics gathers the states.
    import json
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("quality_ddp_worker.py")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    run = lambda rank, world: subprocess.Popen(
        [sys.executable, str(worker), str(rank), str(world), port, str(tmp_path)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs = [run(0, 2), run(1, 2), run(0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
    rank0, rank1, single = (
        json.loads((tmp_path / f"world{w}-rank{r}.json").read_text()) for w, r in [(2, 0), (2, 1), (1, 0)]
    )
    assert rank0 == rank1  # every rank gets the gathered result
    assert set(single) == {"val/inception_score", "val/inception_score_std", "val/fid", "val/kid", "val/kid_std"}
    for name, value in single.items():
        assert rank0[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("option", conf_options("evaluator"))
def test_every_evaluator_config_builds_an_evaluator_that_some_data_set_selects(tmp_path, option):
    """conf/evaluator/ enumerated like conf/objective/ and conf/model/: a new evaluator YAML is tested without
    editing a list. At least one data set must select it (under any name), and it must build there: its
    _target_ an Evaluator, its fields the constructor's."""
    target = yaml.safe_load((CONF_DIR / "evaluator" / f"{option}.yaml").read_text())["_target_"]
    for data in conf_options("data"):
        cfg = compose_config(tmp_path, [f"data={data}", *(["data.path=x.txt"] if data == "text" else [])])
        chosen = [name for name, node in cfg.evaluators.items() if node is not None and node._target_ == target]
        if chosen:
            evaluator = instantiate(cfg.evaluators[chosen[0]])
            assert isinstance(evaluator, Evaluator) and evaluator.every_n_iters >= 0
            return
    pytest.fail(f"no conf/data/*.yaml selects conf/evaluator/{option}.yaml ({target})")
