"""The random-architecture benchmark (Sec. 5.1, Table 2, App. B, C): sweep configs, result files, failure
handling, skip and resume, and the Table 2 aggregator."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import setup_globals
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from conftest import CONF_DIR, REPO, run_cli
from wgangp.errors import NonFiniteError, UserInputError
from wgangp.nets.random_arch import TABLE_1, app_b_weight_decay, sample_architecture
from wgangp.sweep.job import run_sweep_job
from wgangp.sweep.results import is_finished, make_result, read_result, write_result
from wgangp.sweep.table2 import (
    COLUMNS,
    TABLE_2_THRESHOLDS,
    load_sweep,
    outcome_counts,
    pairwise_wins,
    write_outputs,
)
from wgangp.train import train

SWEEPS = REPO / "sweeps"


# ---- the sweep configs --------------------------------------------------------------------------------
def sweep_loader() -> ConfigLoaderImpl:
    """Hydra's config loader with conf/ and sweeps/ on the search path, as `--config-dir sweeps` sets it."""
    search_path = create_config_search_path(str(CONF_DIR))
    search_path.prepend("sweeps", f"file://{SWEEPS}")
    setup_globals()  # the ${hydra:...} and ${now:...} resolvers
    return ConfigLoaderImpl(config_search_path=search_path)


def sweep_jobs(loader: ConfigLoaderImpl, name: str, overrides=()):
    """The sweep config and its jobs' overrides, split as Hydra's basic sweeper splits them."""
    cfg = loader.load_configuration(name, overrides=list(overrides), run_mode=RunMode.MULTIRUN)
    entries = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()]
    parsed = OverridesParser.create().parse_overrides(entries)
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return cfg, [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def job_config(loader, cfg, job):
    job_cfg = loader.load_sweep_config(cfg, list(job))
    HydraConfig.instance().set_config(job_cfg)
    return job_cfg


def test_table_2_sweep_composes_to_400_jobs_with_app_b_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("WGANGP_LOG_DIR", str(tmp_path))
    loader = sweep_loader()
    cfg, jobs = sweep_jobs(loader, "random_archs")
    assert cfg.hydra.mode == RunMode.MULTIRUN  # no -m needed
    assert len(jobs) == 400
    expected = {(f"arch_seed={k}", f"objective={o}") for k, o in itertools.product(range(200), ["wgan_gp", "dcgan"])}
    assert {tuple(j) for j in jobs} == expected
    assert jobs[:2] == [["arch_seed=0", "objective=wgan_gp"], ["arch_seed=0", "objective=dcgan"]]

    normed = next(k for k in range(200) if sample_architecture(k)["d_batch_norm"])
    plain = next(k for k in range(200) if not sample_architecture(k)["d_batch_norm"])
    for k, objective, lr, betas in [(normed, "wgan_gp", 1e-4, [0.0, 0.9]), (plain, "dcgan", 2e-4, [0.5, 0.999])]:
        job = job_config(loader, cfg, [f"arch_seed={k}", f"objective={objective}"])
        assert job.data.reader._target_.endswith("ImageNet32Reader") and job.data.batch_size == 64  # App. B
        assert job.model.generator._target_.endswith("RandomArchGenerator") and job.arch_seed == k
        assert job.model.generator.filter_scale == 1.0 and job.model.critic.filter_scale == 1.0
        assert job.generator_iters == 100_000
        assert job.objective.optimizer.lr == lr and list(job.objective.optimizer.betas) == betas
        # App. B: weight decay 1e-3 only in a normalised discriminator
        assert job.objective.critic_weight_decay == (1e-3 if k == normed else 0.0)
        assert job.sweep.name == "random_archs" and job.sweep.score == "val/inception_score"
        run_dir = Path(job.hydra.sweep.dir) / job.hydra.sweep.subdir
        assert run_dir == tmp_path / "sweeps" / "random_archs" / objective / f"arch{k}"  # deterministic
        assert job.run_name == f"{objective}-arch{k}"


def test_one_sided_and_small_sweeps_compose(monkeypatch, tmp_path):
    monkeypatch.setenv("WGANGP_LOG_DIR", str(tmp_path))
    loader = sweep_loader()
    cfg, jobs = sweep_jobs(loader, "one_sided")
    assert len(jobs) == 2 * 174  # App. C: 174 architectures, two penalties
    assert {j[1] for j in jobs} == {"objective=wgan_gp", "objective=wgan_gp_one_sided"}
    job = job_config(loader, cfg, ["arch_seed=3", "objective=wgan_gp_one_sided"])
    assert job.objective.one_sided is True and job.data.reader._target_.endswith("ImageNet32Reader")
    assert job.sweep.name == "one_sided"

    cfg, jobs = sweep_jobs(loader, "random_archs_small")
    assert len(jobs) == 8
    job = job_config(loader, cfg, jobs[0])
    assert job.data.reader._target_.endswith("DigitsReader")
    assert job.metrics.extractor._target_.endswith("ClassifierFeatures")  # offline IS
    assert job.model.critic.filter_scale == 0.25 and job.generator_iters < 1000


def test_cpu_preset_trains_16_random_archs_on_fashion_mnist_with_its_own_thresholds(monkeypatch, tmp_path):
    monkeypatch.setenv("WGANGP_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("WGANGP_DATA_DIR", str(tmp_path / "data"))
    loader = sweep_loader()
    cfg, jobs = sweep_jobs(loader, "random_archs_cpu")
    expected = {(f"arch_seed={k}", f"objective={o}") for k, o in itertools.product(range(16), ["wgan_gp", "dcgan"])}
    assert {tuple(j) for j in jobs} == expected and len(jobs) == 32  # Table 2's first 16 architectures x 2
    # A random sample, not the cheapest: every depth and both norms of each player occur.
    archs = [sample_architecture(k) for k in range(16)]
    assert {a["g_depth"] for a in archs} == {a["d_depth"] for a in archs} == {4, 8, 12, 20}
    assert {a["g_batch_norm"] for a in archs} == {a["d_batch_norm"] for a in archs} == {True, False}
    for job in (job_config(loader, cfg, jobs[0]), job_config(loader, cfg, jobs[-1])):
        # 28x28 real images read offline; the classifier's cache key is the data config (see the preset)
        assert job.data.reader._target_.endswith("MNISTReader") and job.data.dataset_class.endswith("FashionMNIST")
        assert job.data.download is False and job.data.root == str(tmp_path / "data" / "fashion_mnist")
        assert job.metrics.extractor._target_.endswith("ClassifierFeatures")
        assert job.model.generator.filter_scale == job.model.critic.filter_scale == 0.25
        assert job.generator_iters == 2000 and job.evaluators.quality.every_n_iters == 2000
        assert job.sweep.name == "random_archs_cpu" and job.sweep.score == "val/inception_score"
        assert list(job.sweep.thresholds) == [1.5, 2.3, 3.7, 5.0, 6.3]  # for the classifier's 1..10 range
    lr = {job.objective.optimizer.lr for job in (job_config(loader, cfg, j) for j in jobs[:2])}
    assert lr == {1e-4, 2e-4}  # App. B: each objective's own optimiser


def test_table_2_uses_the_thresholds_the_sweep_config_names(hand_made_sweep, tmp_path):
    assert load_sweep(hand_made_sweep).thresholds == TABLE_2_THRESHOLDS  # none named: Table 2's
    multirun = OmegaConf.load(hand_made_sweep / "multirun.yaml")
    multirun.sweep = {"thresholds": [2.0, 9.2]}
    OmegaConf.save(multirun, hand_made_sweep / "multirun.yaml")
    sweep = load_sweep(hand_made_sweep)
    assert sweep.thresholds == (2.0, 9.2)
    text = write_outputs(sweep, tmp_path / "out")["md"].read_text()
    # scores (GAN, WGAN-GP): 0 (2.0, 6.0), 1 (8.0, 4.0), 2 (9.5, 9.2), 3 (0.5, 3.0); 4 and 5 never succeed
    assert "| 2.0 | 0 | 2 | 2 | 2 |" in text and "| 9.2 | 1 | 0 | 0 | 5 |" in text
    assert "| 3.0 |" not in text  # Table 2's thresholds are not used
    assert "| 3.0 | 0 | 1 | 2 | 3 |" in write_outputs(sweep, tmp_path / "o2", [3.0])["md"].read_text()  # explicit wins


def test_wandb_logger_joins_the_sweeps_group_with_the_objective_in_its_config(monkeypatch, tmp_path):
    monkeypatch.setenv("WGANGP_LOG_DIR", str(tmp_path))
    loader = sweep_loader()
    cfg, _ = sweep_jobs(loader, "random_archs_small")
    job = job_config(loader, cfg, ["logger=wandb", "arch_seed=7", "objective=dcgan"])  # as the sweeper passes them
    wandb = OmegaConf.to_container(job.logger.wandb, resolve=True)
    assert wandb["group"] == "random_archs_small" and wandb["name"] == "dcgan-arch7"
    assert wandb["config"] == {"objective": "dcgan", "model": "random_arch", "data": "digits"}


def test_app_b_weight_decay_follows_the_sampled_discriminator_norm():
    for k in range(50):
        expected = 1e-3 if sample_architecture(k)["d_batch_norm"] else 0.0
        assert app_b_weight_decay(k, 1e-3) == expected
    assert {app_b_weight_decay(k, 1e-3) for k in range(50)} == {0.0, 1e-3}  # both kinds occur


# ---- result files and Table 2 -----------------------------------------------------------------------------
def fake_result(run_dir: Path, objective: str, k: int, score: float | None, status="ok", reason=None, retry=False):
    metrics = {} if score is None else {"val/inception_score": score, "val/inception_score_std": 0.1}
    write_result(
        run_dir,
        make_result(
            status=status,
            reason=reason,
            retry=retry,
            score_name="val/inception_score",
            metrics=metrics,
            objective=objective,
            arch_seed=k,
            arch=sample_architecture(k),
            generator_iters=100,
            target_generator_iters=100,
            seconds=1.0,
            attempt=1,
            sweep="hand",
            run_dir=str(run_dir),
        ),
    )


def write_multirun_yaml(sweep_dir: Path, seeds: str, objectives: str = "wgan_gp,dcgan") -> None:
    cfg = {
        "hydra": {
            "sweeper": {"params": {"arch_seed": "range(0,2)", "objective": objectives}},
            "overrides": {"task": [f"arch_seed={seeds}", "generator_iters=100"]},
        }
    }
    OmegaConf.save(OmegaConf.create(cfg), sweep_dir / "multirun.yaml")


@pytest.fixture
def hand_made_sweep(tmp_path):
    """Scores (GAN, WGAN-GP) per arch_seed; arch 4 has a diverged GAN and no WGAN-GP result; arch 5 never ran."""
    sweep_dir = tmp_path / "hand"
    scores = {0: (2.0, 6.0), 1: (8.0, 4.0), 2: (9.5, 9.2), 3: (0.5, 3.0)}
    for k, (gan, wgan) in scores.items():
        fake_result(sweep_dir / "dcgan" / f"arch{k}", "dcgan", k, gan)
        fake_result(sweep_dir / "wgan_gp" / f"arch{k}", "wgan_gp", k, wgan)
    fake_result(sweep_dir / "dcgan/arch4", "dcgan", 4, None, "failed", "NonFiniteError: non-finite train/critic_loss")
    (sweep_dir / "wgan_gp/arch4/checkpoints").mkdir(parents=True)  # started, killed: no result.json
    write_multirun_yaml(sweep_dir, "range(0,6)")  # the command line's arch_seed wins over the config's
    return sweep_dir


def test_table_2_counts_hand_made_results_including_failed_and_missing_runs(hand_made_sweep):
    sweep = load_sweep(hand_made_sweep)
    assert sweep.arch_seeds == [0, 1, 2, 3, 4, 5] and sweep.objectives == ["dcgan", "wgan_gp"]
    rows = {r["min score"]: r for r in outcome_counts(sweep, [1.0, 3.0, 5.0, 7.0, 9.0, 9.5])}
    # arch 3's WGAN-GP scored exactly 3.0: not > 3.0
    #              only GAN, only WGAN-GP, both, neither (archs 4 and 5 never succeed)
    expected = {
        1.0: (0, 1, 3, 2),
        3.0: (0, 1, 2, 3),
        5.0: (1, 1, 1, 3),
        7.0: (1, 0, 1, 4),
        9.0: (0, 0, 1, 5),
        9.5: (0, 0, 0, 6),
    }  # 9.5 is not > 9.5: success is score > min score
    for t, counts in expected.items():
        assert tuple(rows[t][c] for c in COLUMNS) == counts, t
        assert sum(rows[t][c] for c in COLUMNS) == 6
    problems = sweep.problems({"dcgan", "wgan_gp"})
    assert len(problems) == 4  # dcgan 4 failed; wgan_gp 4 killed; both of arch 5 never started
    assert any("dcgan arch_seed 4: failed" in p and "NonFiniteError" in p for p in problems)
    assert any("wgan_gp arch_seed 4: missing" in p for p in problems)


def test_a_sweep_resumed_in_pieces_keeps_the_runs_of_the_earlier_pieces(hand_made_sweep):
    # the last launch named arch_seed 5 and 6 only: multirun.yaml lists those, the folder holds archs 0-4 too
    write_multirun_yaml(hand_made_sweep, "5,6")
    sweep = load_sweep(hand_made_sweep)
    assert sweep.arch_seeds == [0, 1, 2, 3, 4, 5, 6] and sweep.objectives == ["dcgan", "wgan_gp"]
    rows = {r["min score"]: r for r in outcome_counts(sweep, [1.0])}
    assert tuple(rows[1.0][c] for c in COLUMNS) == (0, 1, 3, 3)  # as before, plus arch 6 never run


def test_table_2_files(hand_made_sweep, tmp_path):
    paths = write_outputs(load_sweep(hand_made_sweep), tmp_path / "out", TABLE_2_THRESHOLDS)
    text = paths["md"].read_text()
    assert "| min score | only GAN | only WGAN-GP | both succeeded | both failed |" in text
    assert "| 5.0 | 1 | 1 | 1 | 3 |" in text and "Failed or missing runs (4)" in text
    rows = paths["csv"].read_text().splitlines()
    assert rows[0] == "min score,only GAN,only WGAN-GP,both succeeded,both failed" and len(rows) == 6
    archs = paths["archs"].read_text().splitlines()
    assert archs[0].startswith("arch_seed," + ",".join(TABLE_1)) and len(archs) == 7
    arch1 = dict(zip(archs[0].split(","), archs[2].split(","), strict=True))
    assert arch1["dcgan_score"] == "8.0" and arch1["wgan_gp_score"] == "4.0"
    assert arch1["g_depth"] == str(sample_architecture(1)["g_depth"])
    assert dict(zip(archs[0].split(","), archs[6].split(","), strict=True))["wgan_gp_status"] == "missing"


def test_one_sided_comparison_counts_failures_as_lower(tmp_path):
    sweep_dir = tmp_path / "one_sided"
    for k, (two, one) in enumerate([(5.0, 4.0), (3.0, 3.5), (6.0, None), (None, None), (2.0, 2.0)]):
        for objective, score in (("wgan_gp", two), ("wgan_gp_one_sided", one)):
            status = "ok" if score is not None else "failed"
            fake_result(sweep_dir / objective / f"arch{k}", objective, k, score, status, None if score else "crash")
    wins = pairwise_wins(load_sweep(sweep_dir))
    assert wins == {"wgan_gp": 2, "wgan_gp_one_sided": 1, "neither": 2}
    text = write_outputs(load_sweep(sweep_dir), tmp_path / "out")["text"]
    assert "two-sided penalty scored higher in 2 architectures, the one-sided in 1" in text
    assert "Table 2" not in text  # no dcgan runs


def test_table2_script_refuses_a_folder_without_results(tmp_path):
    with pytest.raises(UserInputError, match="SWEEP_DIR"):
        load_sweep(tmp_path / "nope")
    out = run_cli("../scripts/table2.py", str(tmp_path))
    assert out.returncode == 2 and "no result.json" in out.stderr


def test_result_files_are_atomic_json_and_say_when_a_run_is_finished(tmp_path):
    fake_result(tmp_path / "a", "wgan_gp", 0, 5.0)
    assert is_finished(read_result(tmp_path / "a"), 100) and not is_finished(read_result(tmp_path / "a"), 200)
    fake_result(tmp_path / "b", "wgan_gp", 0, None, "failed", "NonFiniteError: ...", retry=False)
    assert is_finished(read_result(tmp_path / "b"), 100)  # divergence is the outcome
    fake_result(tmp_path / "c", "wgan_gp", 0, None, "failed", "RuntimeError: out of memory", retry=True)
    assert not is_finished(read_result(tmp_path / "c"), 100)
    (tmp_path / "d").mkdir()
    (tmp_path / "d/result.json").write_text('{"status": "ok", "sco')  # a torn file counts as none
    assert read_result(tmp_path / "d") is None and read_result(tmp_path / "nothing") is None
    assert not list(tmp_path.rglob(".result.json.*tmp"))  # no temporary file left (wgangp.files.replacing)
    with pytest.raises(ValueError, match="status"):
        write_result(tmp_path / "e", {"status": "maybe"})


# ---- one job of a multirun: failure, skip, resume ----------------------------------------------------------
@pytest.fixture
def sweep_job_config(tiny_config, tmp_path):
    def _compose(*overrides, run_dir):
        cfg = tiny_config("experiment=toy", "generator_iters=2", *overrides, run_dir=run_dir)
        with open_dict(cfg):
            cfg.sweep.name = "unit"
        return cfg

    return _compose


def test_a_crashed_or_diverged_run_is_recorded_and_the_sweep_goes_on(sweep_job_config, tmp_path, monkeypatch):
    def diverge(cfg, record=None):
        record["generator_iter"] = 7
        raise NonFiniteError("non-finite train/critic_loss at generator iteration 7")

    assert run_sweep_job(sweep_job_config(run_dir=tmp_path / "d"), diverge) is None  # returns, does not raise
    result = read_result(tmp_path / "d")
    assert result["status"] == "failed" and result["retry"] is False and result["generator_iters"] == 7
    assert result["reason"].startswith("NonFiniteError: non-finite train/critic_loss")
    assert result["objective"] == "wgan_gp" and result["sweep"] == "unit"

    def crash(cfg, record=None):
        raise RuntimeError("CUDA out of memory")

    run_sweep_job(sweep_job_config(run_dir=tmp_path / "c"), crash)
    result = read_result(tmp_path / "c")
    assert result["status"] == "failed" and result["retry"] is True and "out of memory" in result["reason"]
    run_sweep_job(sweep_job_config(run_dir=tmp_path / "c"), crash)  # a retried failure counts its attempts
    assert read_result(tmp_path / "c")["attempt"] == 2
    calls = []
    run_sweep_job(sweep_job_config(run_dir=tmp_path / "d"), lambda cfg, record=None: calls.append(cfg))
    assert calls == []  # the diverged run is finished: not trained again


def test_a_finished_run_is_skipped_and_a_killed_one_resumes(sweep_job_config, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    score = run_sweep_job(sweep_job_config(run_dir=run_dir), train)
    result = read_result(run_dir)
    assert result["status"] == "ok" and result["generator_iters"] == 2 and score == result["score"] > 0
    assert result["score_name"] == "val/w1" and result["arch_seed"] is None

    calls = []

    def counted_train(cfg, record=None):
        calls.append(cfg)
        return train(cfg, record)

    assert run_sweep_job(sweep_job_config(run_dir=run_dir), counted_train) == score and calls == []  # skipped

    # killed after iteration 2 (last.ckpt, no result.json), then re-run for 4 iterations: resumes at 2
    (run_dir / "result.json").unlink()
    run_sweep_job(sweep_job_config("generator_iters=4", run_dir=run_dir), counted_train)
    assert calls[0].ckpt_path == str(run_dir / "checkpoints/last.ckpt")
    with open(run_dir / "metrics.csv") as f:
        import csv

        steps = [int(r["step"]) for r in csv.DictReader(f) if r["train/critic_loss"]]
    assert steps == [1, 2, 3, 4]  # each iteration trained once
    assert read_result(run_dir)["generator_iters"] == 4


def test_a_missing_score_is_a_retried_failure(sweep_job_config, tmp_path, monkeypatch):
    run_sweep_job(sweep_job_config(run_dir=tmp_path / "r"), lambda cfg, record=None: {"val/fid": 3.0})
    result = read_result(tmp_path / "r")
    assert result["status"] == "failed" and result["retry"] and "logged no val/w1" in result["reason"]


# ---- the small preset, end to end through the command line --------------------------------------------------
TINY_SWEEP = [
    "generator_iters=2",
    "model.generator.filter_scale=0.125",
    "data.batch_size=8",
    "callbacks.progress.refresh_rate=0",
    "callbacks.checkpoint.last_every_n_iters=1",
    "evaluators.quality.num_samples=20",
    "evaluators.quality.num_real=40",
    "evaluators.quality.batch_size=10",
    "evaluators.quality.kid_subsets=3",
    "evaluators.quality.kid_subset_size=10",
    "metrics.extractor.epochs=1",
    "metrics.extractor.max_images=256",
    "metrics.extractor.min_val_accuracy=0",
]


def test_small_preset_runs_end_to_end_then_skips_finished_runs(tmp_path):
    sweep_dir = tmp_path / "sweep"
    args = [
        "--config-dir",
        str(SWEEPS),
        "--config-name",
        "random_archs_small",
        f"hydra.sweep.dir={sweep_dir}",
        f"paths.data_dir={tmp_path / 'data'}",
        "arch_seed=2,-1",
        *TINY_SWEEP,
    ]
    env = {"OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    out = run_cli("train.py", *args, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    results = {(p.parent.parent.name, p.parent.name): json.loads(p.read_text()) for p in sweep_dir.rglob("result.json")}
    assert len(results) == 4
    for objective, k in itertools.product(["wgan_gp", "dcgan"], [2]):
        r = results[(objective, f"arch{k}")]
        assert r["status"] == "ok" and 1.0 <= r["score"] <= 10.0 and r["generator_iters"] == 2, r
        assert r["arch"] == sample_architecture(k) and r["objective"] == objective
    bad = results[("wgan_gp", "arch-1")]  # an invalid arch_seed fails alone; the sweep went on
    assert bad["status"] == "failed" and "arch_seed must be a non-negative integer" in bad["reason"] and bad["retry"]

    paths = write_outputs(load_sweep(sweep_dir), sweep_dir)
    for row in outcome_counts(load_sweep(sweep_dir), TABLE_2_THRESHOLDS):
        assert sum(row[c] for c in COLUMNS) == 2  # archs 2 and -1
    assert "arch_seed -1: failed" in paths["text"]

    mtimes = {p: os.stat(p).st_mtime_ns for p in sweep_dir.rglob("result.json")}
    again = run_cli("train.py", *args, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    changed = {p for p in mtimes if os.stat(p).st_mtime_ns != mtimes[p]}
    assert changed == {sweep_dir / "wgan_gp/arch-1/result.json", sweep_dir / "dcgan/arch-1/result.json"}
    assert json.loads((sweep_dir / "dcgan/arch-1/result.json").read_text())["attempt"] == 2


def test_each_run_of_a_sweep_gets_its_own_wandb_run_in_the_sweeps_group(sweep_job_config, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_MODE", "offline")
    import wandb

    if wandb.run is not None:
        wandb.finish()
    seen = []
    real_finish = wandb.finish

    def finish(*args, **kwargs):  # what the run holds when the sweep job closes it
        run = wandb.run
        seen.append((run.id, run.group, run.config["objective"], run.summary["status"], run.summary["score"]))
        real_finish(*args, **kwargs)

    monkeypatch.setattr(wandb, "finish", finish)
    for name in ("a", "b"):  # the basic launcher runs the jobs of a sweep in one process
        run_sweep_job(sweep_job_config("logger=wandb", run_dir=tmp_path / name), train)
        assert wandb.run is None  # finished, so the next job starts its own run
        assert len(list((tmp_path / name / "wandb").glob("offline-run-*"))) == 1
        assert seen[-1][1:] == ("unit", "wgan_gp", "ok", read_result(tmp_path / name)["score"])
    assert seen[0][0] != seen[1][0]  # two W&B runs


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_the_small_preset_runs_under_the_parallel_and_cluster_launchers(tmp_path, launcher):
    sweep_dir = tmp_path / "sweep"
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else ["hydra.launcher.timeout_min=10"]
    out = run_cli(
        "train.py",
        "--config-dir",
        str(SWEEPS),
        "--config-name",
        "random_archs_small",
        f"hydra/launcher={launcher}",
        *extra,
        f"hydra.sweep.dir={sweep_dir}",
        f"paths.data_dir={tmp_path / 'data'}",
        "arch_seed=2,10",
        *TINY_SWEEP,
        env={"OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"},
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = load_sweep(sweep_dir)
    assert sorted(sweep.results) == [("dcgan", 2), ("dcgan", 10), ("wgan_gp", 2), ("wgan_gp", 10)]
    assert all(r["status"] == "ok" and 1.0 <= r["score"] <= 10.0 for r in sweep.results.values())
