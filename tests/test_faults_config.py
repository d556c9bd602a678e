"""Bad config values: every one named at once, before anything is built."""

import pytest

from conftest import CONF_DIR, TINY, run_cli
from faults import assert_one_paragraph
from wgangp.build import compose_config
from wgangp.config_checks import config_problems


def test_values_that_used_to_give_tracebacks_or_silent_truncation_are_all_named(tmp_path):
    out = run_cli(
        "train.py",
        *TINY,
        f"hydra.run.dir={tmp_path}",
        "generator_iters=abc",
        "objective.gp_weight=[1,2]",
        "seed=-1",
        "data.batch_size=1.5",
        "objective.n_critic=2.7",
        "objective.optimizer.lr=inf",
        "evaluators.w1.every_n_iters=-1",
    )
    message = assert_one_paragraph(
        out,
        2,
        "generator_iters='abc' is invalid: it must be an integer >= 1",
        "objective.gp_weight=[1, 2] is invalid: it must be a finite number >= 0",
        "seed=-1 is invalid: it must be an integer in [0, 4294967295]",
        "data.batch_size=1.5 is invalid: it must be an integer >= 1",
        "objective.n_critic=2.7 is invalid: it must be an integer >= 1",
        "objective.optimizer.lr=inf is invalid: it must be a finite number > 0",
        "evaluators.w1.every_n_iters=-1 is invalid",
        "Fix the value(s) on the command line",
    )
    assert message.count("is invalid") == 7  # objective.lr_decay_iters=${generator_iters} is not blamed too
    assert "lr_decay_iters" not in message
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize(
    "override, named",
    [
        ("objective.gp_weight=inf", "objective.gp_weight=inf"),
        ("objective.optimizer.betas=[0.5,1.0]", "objective.optimizer.betas=[0.5, 1.0]"),
        ("model.generator.width=nan", "model.generator.width=nan"),
        ("data.num_workers=-1", "data.num_workers=-1"),
        ("trainer.log_every_n_steps=2.5", "trainer.log_every_n_steps=2.5"),
    ],
)
def test_each_kind_of_bad_value_is_named(tiny_config, override, named):
    problems = config_problems(tiny_config(override))
    assert len(problems) == 1 and problems[0].startswith(f"{named} is invalid"), problems


def test_integral_floats_pass(tiny_config):
    assert config_problems(tiny_config("generator_iters=1e3", "data.batch_size=32.0")) == []


@pytest.mark.parametrize(
    "option",
    [
        f"{p.parent.name}={p.stem}"
        for g in ("data", "model", "objective", "experiment")
        for p in sorted((CONF_DIR / g).glob("*.yaml"))
    ],
)
def test_every_shipped_option_passes(tmp_path, option):
    needs_path = option in ("data=text", "experiment=text_lm", "model=charcnn")  # text: data.path has no default
    overrides = [option, "data.path=x.txt"] if needs_path else [option]
    assert config_problems(compose_config(tmp_path, overrides)) == []


def test_eval_values_are_checked(tmp_path):
    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"")
    out = run_cli("eval.py", f"ckpt_path={ckpt}", "num_samples=abc", "split=test", "seed=1.5")
    assert_one_paragraph(
        out,
        2,
        "num_samples='abc' is invalid",
        "split='test' is invalid: it must be one of train, val",
        "seed=1.5 is invalid",
    )
