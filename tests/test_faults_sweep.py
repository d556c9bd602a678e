"""A sweep job whose value does not parse fails alone and is recorded; the others finish. An option that does not
exist stops the sweep before anything runs."""

import json

from conftest import TINY, run_cli


def test_a_job_with_an_unparsable_value_is_recorded_and_the_sweep_finishes(tmp_path):
    sweep = tmp_path / "sweep"
    out = run_cli(
        "train.py",
        "-m",
        "generator_iters=abc,2",
        *TINY,
        f"hydra.sweep.dir={sweep}",
        env={"OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    bad, good = (json.loads((sweep / str(i) / "result.json").read_text()) for i in (0, 1))
    assert bad["status"] == "failed" and bad["retry"] and bad["target_generator_iters"] is None
    assert "generator_iters='abc' is invalid: it must be an integer >= 1" in bad["reason"]
    assert good["status"] == "ok" and good["generator_iters"] == 2 and good["score"] is not None
    assert (sweep / "1/checkpoints/last.ckpt").is_file() and not (sweep / "0/checkpoints").exists()
    said = out.stdout + out.stderr  # the failed job's message, once (it used to be printed and logged)
    assert said.count("generator_iters='abc' is invalid") == 1, said[-3000:]


def test_a_misspelt_option_stops_the_whole_sweep_before_anything_runs(tmp_path):
    sweep = tmp_path / "sweep"
    out = run_cli("train.py", "-m", "objective=wgan_gp,foo", *TINY, f"hydra.sweep.dir={sweep}")
    assert out.returncode == 1 and "Traceback" not in out.stderr  # Hydra's own command-line error (docs/failures.md)
    assert "Could not find 'objective/foo'" in out.stderr and "wgan_gp_one_sided" in out.stderr  # what exists
    assert not list(sweep.rglob("result.json")) and not list(sweep.rglob("*.ckpt"))  # nothing ran
