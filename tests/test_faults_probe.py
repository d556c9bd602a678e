"""The second hostile-input probe: no code from a checkpoint, no run adopting or overwriting another's files, and
every failure a clear exit (train, sample and eval, through the entry points users take)."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys

import pytest
import torch

from conftest import REPO, TINY, run_cli
from faults import assert_one_paragraph
from wgangp.build import compose_config
from wgangp.checkpoints import load_checkpoint
from wgangp.config_checks import check_config, config_problems
from wgangp.errors import UserInputError
from wgangp.evaluation.w1 import W1
from wgangp.sampling import sample
from wgangp.train import train


class RunsACommand:
    """Unpickling this runs os.system: the payload a crafted checkpoint smuggles in as bytes."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


def edited(ckpt_path, tmp_path, edit, name="edited.ckpt"):
    """A copy of a real checkpoint, changed by `edit(ckpt)`: passes torch.load(weights_only=True)."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    edit(ckpt)
    out = tmp_path / name
    torch.save(ckpt, out)
    return out


# ---- 1: a checkpoint's stored config never chooses what is built ---------------------------------------------------
def _torch_load_payload(marker):
    return {
        "_target_": "torch.load",
        "f": {"_target_": "io.BytesIO", "initial_bytes": pickle.dumps(RunsACommand(marker))},
        "weights_only": False,
    }


def evaluate_in_process(ckpt, out):
    from hydra import compose, initialize_config_dir

    from wgangp.config_tree import CONF_DIR
    from wgangp.eval import evaluate

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return evaluate(compose("eval", [f"ckpt_path={ckpt}", "w1_points=50", f"out={out}"]))


@pytest.mark.parametrize("where", ["evaluator", "data", "generator"])
def test_a_run_config_naming_foreign_targets_is_refused_and_runs_nothing(toy_ckpt, tmp_path, where):
    marker = tmp_path / "ran"

    def plant(ckpt):
        run_config = ckpt["wgangp"]["run_config"]
        if where == "evaluator":
            run_config["evaluators"]["x"] = {"_target_": "os.system", "_args_": [f"touch {marker}"]}
        elif where == "data":
            run_config["data"] = {"_target_": "numpy.load", "file": str(marker), "allow_pickle": True}
        else:
            run_config["model"]["generator"]["extra"] = {"_target_": "os.system", "_args_": [f"touch {marker}"]}

    bad = edited(toy_ckpt, tmp_path, plant)
    builders = [lambda p: evaluate_in_process(p, tmp_path / "e.json")] + (
        [lambda p: sample(p, 4)] * (where == "generator")
    )
    for build in builders:  # eval builds everything stored; sample the generator alone
        with pytest.raises(UserInputError, match="names classes or functions that wgangp's config tree does not"):
            build(bad)
    assert not marker.exists() and not (tmp_path / "e.json").exists()


def test_eval_refuses_the_crafted_checkpoint_through_the_command_line(toy_ckpt, tmp_path):
    marker = tmp_path / "ran"
    bad = edited(
        toy_ckpt, tmp_path, lambda c: c["wgangp"]["run_config"]["evaluators"].update(x=_torch_load_payload(marker))
    )
    out = run_cli("eval.py", f"ckpt_path={bad}", f"out={tmp_path / 'e.json'}")  # the probe's payload: pickled bytes
    assert_one_paragraph(out, 2, "evaluators.x.f.initial_bytes (bytes)", "never writes")
    assert not marker.exists() and not (tmp_path / "e.json").exists()


def test_an_interpolation_in_a_stored_config_is_refused(toy_ckpt, tmp_path):
    bad = edited(toy_ckpt, tmp_path, lambda c: c["wgangp"]["run_config"].update(note="${oc.env:HOME}"))
    with pytest.raises(UserInputError, match="unresolved interpolations .*note"):
        load_checkpoint(bad)


# ---- 3, 4: no run adopts or overwrites another -----------------------------------------------------------------
def test_last_in_an_explicit_run_directory_never_adopts_a_sibling(toy_ckpt, tmp_path):
    sibling = toy_ckpt.parent.parent  # a finished run next to the new one
    new = sibling.parent / "requeued"
    with pytest.raises(UserInputError, match="found no checkpoint in .*requeued/checkpoints.*Nothing was trained"):
        train(compose_config(new, [*TINY, "generator_iters=4", "ckpt_path=last"]))
    assert not (new / "checkpoints").exists()


def test_last_in_the_default_layout_finds_the_newest_earlier_launch(tmp_path, caplog):
    logs = tmp_path / "logs"
    runs = logs / "train" / "wgan_gp-toy_mlp-8gaussians"  # the default layout: logs/<task>/<run name>/<time>
    train(compose_config(runs / "first", [*TINY, f"paths.log_dir={logs}", "generator_iters=2"]))
    caplog.set_level(logging.INFO, logger="wgangp")
    train(compose_config(runs / "second", [*TINY, f"paths.log_dir={logs}", "generator_iters=3", "ckpt_path=last"]))
    assert f"resuming from {runs / 'first/checkpoints/last.ckpt'}" in caplog.text
    assert torch.load(runs / "second/checkpoints/last.ckpt", weights_only=True)["global_step"] == 3


def test_a_new_run_over_a_finished_one_is_refused_and_nothing_of_it_changes(toy_ckpt):
    run = toy_ckpt.parent.parent
    before = {p: p.read_bytes() for p in (toy_ckpt, run / "metrics.csv")}
    with pytest.raises(UserInputError) as err:
        train(compose_config(run, [*TINY, "generator_iters=4"]))
    assert "already holds a run's checkpoints (iter_0000002.ckpt, last.ckpt)" in str(err.value)
    assert "ckpt_path=last" in str(err.value) and "hydra.run.dir" in str(err.value)  # the two ways on
    assert all(p.read_bytes() == data for p, data in before.items())


def test_the_relaunch_through_the_cli_leaves_the_first_runs_hydra_folder(tmp_path):
    run = tmp_path / "run"
    first = run_cli("train.py", *TINY, f"hydra.run.dir={run}", "generator_iters=2")
    assert first.returncode == 0, first.stderr[-2000:]
    overrides = (run / ".hydra/overrides.yaml").read_bytes()
    again = run_cli("train.py", *TINY, f"hydra.run.dir={run}", "generator_iters=4", "seed=3")
    assert_one_paragraph(again, 2, "already holds a run's checkpoints")
    assert (run / ".hydra/overrides.yaml").read_bytes() == overrides


def test_rows_of_a_run_that_left_no_checkpoint_are_kept_aside(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,train/critic_loss\n10,1.0\n")  # killed before its first checkpoint
    train(compose_config(run, [*TINY, "generator_iters=2"]))
    assert (run / "metrics.csv.previous-1").read_text() == "step,train/critic_loss\n10,1.0\n"
    steps = [line.split(",")[0] for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert "10" not in steps


# ---- 5, 9, 11: the config says what runs before anything trains -----------------------------------------------------
@pytest.mark.parametrize(
    "override, named",
    [
        ("trainer.precision=64-true", "trainer.precision='64-true' is not supported"),
        ("trainer.precision=16-true", "trainer.precision='16-true' is not supported"),
        ("trainer.precision=8", "trainer.precision=8 is not supported"),
        ("trainer.precision=16-mixed", "trainer.precision=16-mixed needs a CUDA GPU"),
        ("trainer.devices=0", "trainer.devices=0 is invalid"),
        ("trainer.accelerator=gpu", "trainer.accelerator=gpu asks for a GPU"),
        ("trainer.max_time=garbage", "trainer.max_time='garbage' is invalid: it must be DD:HH:MM:SS"),
        ("+generator_iter=3", "+generator_iter=3 adds a top-level key `generator_iter` that nothing in the run reads"),
        ("+foo=1", "+foo=1 adds a top-level key `foo`"),
    ],
)
def test_settings_lightning_or_nothing_would_fail_on_are_refused_first(tmp_path, override, named):
    if "accelerator=gpu" in override and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(UserInputError) as err:
        check_config(compose_config(tmp_path, [*TINY, override]))
    assert named in str(err.value)


def test_a_mandatory_value_left_unset_is_named(tmp_path):
    problems = config_problems(compose_config(tmp_path, ["model=charcnn", "data=text"]), [])
    assert "data.path is not set: it has no default and must be given on the command line (data.path=...)." in problems


def test_a_bad_source_value_is_not_blamed_on_the_fields_copying_it(tmp_path):
    problems = config_problems(compose_config(tmp_path, [*TINY, "generator_iters=abc"]), [])
    assert len(problems) == 1 and problems[0].startswith("generator_iters='abc' is invalid")


def test_a_null_evaluator_is_off(tiny_config):
    metrics = train(tiny_config("generator_iters=2", "evaluators.w1=null"))
    assert "val/w1" not in metrics and "val/modes" in metrics


# ---- 6: a run that trains nothing says so --------------------------------------------------------------------------
def test_resuming_a_finished_run_at_its_length_trains_and_writes_nothing(toy_ckpt, caplog):
    data = toy_ckpt.read_bytes()
    caplog.set_level(logging.WARNING, logger="wgangp")
    assert train(compose_config(toy_ckpt.parent.parent, [*TINY, "generator_iters=2", "ckpt_path=last"])) == {}
    assert "nothing to train" in caplog.text and "nothing was trained or written" in caplog.text
    assert toy_ckpt.read_bytes() == data


def test_a_zero_time_budget_says_nothing_was_trained(tiny_config, caplog):
    caplog.set_level(logging.WARNING, logger="wgangp")
    train(tiny_config("generator_iters=5", "trainer.max_time=00:00:00:00"))
    assert "nothing was trained: the run stopped before its first generator iteration" in caplog.text


# ---- 8, 9: damaged checkpoints end in one paragraph -----------------------------------------------------------------
def test_checkpoints_with_damaged_contents_are_refused_by_train_and_sample(toy_ckpt, tmp_path):
    def wrong_shape(c):
        c["state_dict"]["generator.net.0.weight"] = torch.zeros(3, 3)

    def no_model(c):
        del c["wgangp"]["run_config"]["model"]

    def nan_weights(c):
        c["state_dict"]["generator.net.0.weight"] = torch.full_like(
            c["state_dict"]["generator.net.0.weight"], float("nan")
        )

    def other_shape(c):
        c["wgangp"]["data_shape"] = [3]

    def not_a_tensor(c):
        c["state_dict"]["generator.net.0.weight"] = 3

    cases = {
        wrong_shape: "wrong shape: net.0.weight (3, 3)",
        no_model: "has no usable run configuration",
        nan_weights: "holds non-finite (NaN or inf) generator weights (net.0.weight)",
        other_shape: "generator weights do not fit the nets its stored configuration builds (wrong shape: net.6",
        not_a_tensor: "wrong shape: net.0.weight int",
    }
    for edit, message in cases.items():
        bad = edited(toy_ckpt, tmp_path, edit, f"{edit.__name__}.ckpt")
        with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            sample(bad, 4)
    bad = edited(toy_ckpt, tmp_path, wrong_shape, "resume.ckpt")
    with pytest.raises(UserInputError, match=r"weights do not fit the nets .*generator.net.0.weight \(3, 3\)"):
        train(compose_config(tmp_path / "resume", [*TINY, "generator_iters=4", f"ckpt_path={bad}"]))


def test_an_exact_w1_too_large_for_memory_is_refused_before_it_starts(tmp_path):
    with pytest.raises(UserInputError, match="an exact W1 between two sets of 1000000 points needs about 2.4e"):
        W1(out_dir=str(tmp_path), num_points=1_000_000)


# ---- eval.py: sizes as asked, and a result it cannot write is still printed ---------------------------------------
def test_eval_uses_the_sample_count_asked_for_and_keeps_unwritable_scores(toy_ckpt, tmp_path):
    out = run_cli("eval.py", f"ckpt_path={toy_ckpt}", "num_samples=500", f"out={tmp_path / 'e.json'}")
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["w1_points"] == 500 and result["w1"] > 0
    full = run_cli("eval.py", f"ckpt_path={toy_ckpt}", "num_samples=500", "out=/dev/full/e.json")
    assert_one_paragraph(full, 4, "could not write the evaluation result /dev/full/e.json")
    printed, _ = json.JSONDecoder().raw_decode(full.stdout[full.stdout.index('{\n  "') :])
    assert printed["w1_points"] == 500  # the scores, on stdout


# ---- 8, 12: run directories, the default one included ----------------------------------------------------------------
def test_a_run_directory_that_cannot_be_made_is_one_paragraph(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out = run_cli("train.py", *TINY, f"hydra.run.dir={blocker}", "generator_iters=1")
    assert_one_paragraph(out, 4, f"could not write the run directory {blocker}")
    out = run_cli("train.py", *TINY, "generator_iters=1", env={"WGANGP_LOG_DIR": str(blocker)})
    assert_one_paragraph(out, 4, "could not write the run directory", "a_file is not a folder")


def test_the_default_run_directory_is_locked_before_hydra_writes_into_it(tmp_path):
    logs = tmp_path / "logs"
    out = run_cli("train.py", *TINY, "generator_iters=2", env={"WGANGP_LOG_DIR": str(logs)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HydraConfig was not set" not in out.stderr and "Warning" not in out.stderr
    (run,) = (logs / "train" / "wgan_gp-toy_mlp-8gaussians").iterdir()
    assert {".run.lock", ".hydra", "checkpoints", "metrics.csv"} <= {p.name for p in run.iterdir()}
    assert "pid " in (run / ".run.lock").read_text()


def test_the_memory_check_sees_an_address_space_limit():
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, resource.RLIM_INFINITY));"
        "from wgangp.host import host_free_memory; free, source = host_free_memory();"
        "print(free < 8 * 2**30, source)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": "src"}
    )
    assert out.stdout.strip() == "True the address-space limit RLIMIT_AS (ulimit -v) less what this process maps", (
        out.stderr
    )


def test_eval_of_an_image_run_without_inception_weights_is_one_paragraph(tmp_path):
    run = tmp_path / "run"
    image = ["data=digits", "model=mlp", "model.generator.width=16", "model.critic.width=16", "debug=fast"]
    train(compose_config(run, [*image, "generator_iters=1"]))  # training only warns: IS/FID/KID are off
    out = run_cli(
        "eval.py", f"ckpt_path={run / 'checkpoints/last.ckpt'}", "num_samples=20", f"out={tmp_path / 'e.json'}",
        env={"WGANGP_INCEPTION_WEIGHTS": str(tmp_path / "absent.pth")},
    )  # fmt: skip
    assert_one_paragraph(out, 2, f"Inception weights not found at {tmp_path / 'absent.pth'}", "Download")
    assert not (tmp_path / "e.json").exists()


def test_training_under_an_address_space_limit_is_refused_by_the_memory_check(tmp_path):
    code = (
        "import resource, sys;"
        "resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, resource.RLIM_INFINITY));"
        "sys.argv = ['train.py', *sys.argv[1:]];"
        "from wgangp.train import main; main()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *TINY, "data.batch_size=5000000", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, cwd=REPO, timeout=300, env={**os.environ, "PYTHONPATH": "src"},
    )  # fmt: skip
    assert_one_paragraph(out, 2, "data.batch_size=5000000 needs about", "the address-space limit RLIMIT_AS")
    assert not (tmp_path / "run/checkpoints").exists()


def test_a_tuple_in_a_stored_config_is_refused_before_anything_is_built(toy_ckpt, tmp_path):
    """weights_only unpickling admits tuples, OmegaConf turns them into lists and Hydra builds what they nest."""
    marker = tmp_path / "ran"
    payload = ({"_target_": "os.system", "_args_": [f"touch {marker}"]},)
    bad = edited(toy_ckpt, tmp_path, lambda c: c["wgangp"]["run_config"]["model"]["generator"].update(x=payload))
    for build in (load_checkpoint, lambda p: sample(p, 4), lambda p: evaluate_in_process(p, tmp_path / "e.json")):
        with pytest.raises(UserInputError, match=r"values in its run configuration that wgangp never writes"):
            build(bad)
    assert not marker.exists()


def test_a_resume_into_a_directory_holding_another_runs_checkpoints_is_refused(toy_ckpt, tmp_path):
    other = tmp_path / "other"
    train(compose_config(other, [*TINY, "generator_iters=2"]))
    run = toy_ckpt.parent.parent
    before = {p: p.read_bytes() for p in (toy_ckpt, run / "metrics.csv")}
    with pytest.raises(UserInputError, match="holds the checkpoints of its own run, and resuming ckpt_path="):
        train(compose_config(run, [*TINY, "generator_iters=4", f"ckpt_path={other / 'checkpoints/last.ckpt'}"]))
    assert all(p.read_bytes() == data for p, data in before.items())


def test_a_run_keeping_only_iter_checkpoints_resumes_from_its_newest(tmp_path):
    from wgangp.resume import own_resume_point

    folder = tmp_path / "checkpoints"
    assert own_resume_point(tmp_path) is None
    folder.mkdir()
    for k in (500, 1000, 10000):
        (folder / f"iter_{k:07d}.ckpt").write_bytes(b"")
    assert own_resume_point(tmp_path) == folder / "iter_0010000.ckpt"
    (folder / "last.ckpt").write_bytes(b"")
    assert own_resume_point(tmp_path) == folder / "last.ckpt"


def test_force_overrides_and_groups_of_a_user_directory_are_not_taken_for_typos(tmp_path):
    from wgangp.config_checks import added_key_problems

    user = tmp_path / "user"
    (user / "augment").mkdir(parents=True)
    assert added_key_problems(["++seed=3", "+augment=flip", "+optimizer@objective.x=adam_alg1"], [user]) == []
    assert len(added_key_problems(["+seeds=3"], [user])) == 1


@pytest.mark.parametrize(
    "overrides, named",
    [
        (["trainer.precision=64-true"], "trainer.precision='64-true' is not supported"),
        (["+generator_iter=3"], "+generator_iter=3 adds a top-level key"),
        (["model=charcnn", "data=text"], "data.path is not set"),
    ],
)
def test_the_command_line_refuses_them_with_exit_2_before_writing_a_run(tmp_path, overrides, named):
    """What Lightning would end in exit 1 (or the run would ignore), the command line ends in exit 2, before any
    checkpoint, metrics or .hydra/ is written."""
    run = tmp_path / "run"
    base = [o for o in TINY if not o.startswith("model.")]  # TINY's model.* shrink the toy MLPs only; refused first
    assert_one_paragraph(run_cli("train.py", *base, *overrides, f"hydra.run.dir={run}"), 2, named)
    assert not (run / "checkpoints").exists() and not (run / "metrics.csv").exists()
