"""A sweep job whose value does not parse fails alone and is recorded; the others finish (issue 17, item 8)."""

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
