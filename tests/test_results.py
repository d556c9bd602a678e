"""Measured results as data (wgangp.results): records round-trip, docs tables are their renderings, and a hand
edit or a lost record fails the check that `make test` runs on the repository's own docs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from wgangp.errors import UserInputError
from wgangp.results import mean_spread, read_records, render_docs, run_record, write_record

ROOT = Path(__file__).resolve().parents[1]


def _record(run: str, fid: float, seed: int) -> dict:
    return {
        "table": "demo",
        "run": run,
        "overrides": [f"seed={seed}"],
        "commit": "abc1234",
        "seed": seed,
        "iteration": 10,
        "wall_seconds": 1.5,
        "machine": "test",
        "metrics": {"val/fid": fid, "val/inception_score": math.nan},
    }


def render_demo(records: list[dict]) -> str:
    """A renderer for the tests: one row per record."""
    return "| run | FID |\n|---|---:|\n" + "\n".join(f"| {r['run']} | {r['metrics']['val/fid']:.1f} |" for r in records)


BLOCK = "<!-- rendered from results/demo by test_results.render_demo -->\n{body}<!-- end of rendered table -->\n"


def test_records_round_trip_with_nan_as_null_and_the_docs_block_is_their_rendering(tmp_path):
    for run, fid, seed in (("b/seed1", 20.0, 1), ("a/seed0", 10.0, 0)):
        write_record(tmp_path / "results", _record(run, fid, seed))
    records = read_records(tmp_path / "results", "demo")
    assert [r["run"] for r in records] == ["a/seed0", "b/seed1"]
    assert records[0]["metrics"]["val/inception_score"] is None  # JSON has no NaN
    doc = tmp_path / "doc.md"
    doc.write_text("text\n" + BLOCK.format(body="stale\n") + "more\n")
    assert render_docs([doc], tmp_path / "results", check=True) == [f"{doc}: demo"]
    assert "stale" in doc.read_text()  # check changes nothing
    render_docs([doc], tmp_path / "results")
    assert "| a/seed0 | 10.0 |\n| b/seed1 | 20.0 |" in doc.read_text()
    assert render_docs([doc], tmp_path / "results", check=True) == []
    doc.write_text(doc.read_text().replace("10.0", "9.0"))  # a hand edit
    assert render_docs([doc], tmp_path / "results", check=True) == [f"{doc}: demo"]


def test_a_block_whose_records_are_gone_names_the_folder(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(BLOCK.format(body="| x |\n"))
    with pytest.raises(UserInputError, match="no records under .*demo"):
        render_docs([doc], tmp_path / "results", check=True)


def test_a_record_missing_what_redoes_it_is_refused(tmp_path):
    record = _record("a", 1.0, 0)
    del record["commit"]
    with pytest.raises(ValueError, match="commit"):
        write_record(tmp_path, record)


def test_a_run_directory_becomes_a_record_with_its_overrides_and_last_metrics(tmp_path):
    run = tmp_path / "wgan_gp/seed0"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra/overrides.yaml").write_text("- technique=wgan_gp\n- seed=0\n")
    (run / ".hydra/config.yaml").write_text("seed: 0\n")
    (run / "metrics.csv").write_text(
        "step,train/critic_loss,val/fid,val/wall_seconds\n5,1.0,,\n10,,30.0,2.0\n10,0.5,,\n20,,25.0,4.0\n"
    )
    record = run_record(run, "demo", "wgan_gp/seed0", ("val/wall_seconds", "val/fid"))
    assert record["overrides"] == ["technique=wgan_gp", "seed=0"] and record["seed"] == 0
    assert record["iteration"] == 20 and record["wall_seconds"] == 4.0 and record["metrics"]["val/fid"] == 25.0
    assert record["curve"] == {"step": [10.0, 20.0], "val/wall_seconds": [2.0, 4.0], "val/fid": [30.0, 25.0]}
    assert json.loads(write_record(tmp_path / "r", record).read_text())["run"] == "wgan_gp/seed0"


def test_mean_spread_is_the_mean_and_sample_standard_deviation():
    assert mean_spread([1.0, 2.0, 3.0]) == "2 ± 1"
    assert mean_spread([4.0, math.nan]) == "4" and mean_spread([]) == "n/a"


def test_every_rendered_table_in_the_docs_matches_its_committed_records():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/render_results.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
