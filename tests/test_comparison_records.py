"""The comparison scripts keep their measurements as results records (wgangp.results) and their docs tables render
from those records: scripts/stabilisers.py, scripts/lipschitz_compare.py and scripts/score_range.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from wgangp.errors import UserInputError
from wgangp.experiments.comparisons import render_lipschitz, render_score_range, render_stabilisers
from wgangp.experiments.techniques import render_curve_table
from wgangp.results import RECORD_KEYS, checkout_docs, keep_records, new_record, read_records, write_record

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _round_trip(tmp_path: Path, records: list[dict]) -> list[dict]:
    for record in records:
        write_record(tmp_path / "results", record)
    return read_records(tmp_path / "results", records[0]["table"])


def test_stabiliser_records_from_the_scripts_result_files_render_the_docs_table(tmp_path):
    stabilisers = _script("stabilisers")
    for seed, (modes, hq, w1) in enumerate([(5, 0.158, 0.275), (8, 0.275, 0.401), (11, 0.323, 0.325)]):
        result = {"val/modes": modes, "val/high_quality": hq, "val/w1": w1, "seconds": 130.0 + seed}
        result |= {"overrides": ["objective=dcgan", f"seed={seed}"], "iterations": 2000}
        if seed < 2:  # a result written before the script recorded its commit reads as "unknown"
            result |= {"commit": "abc1234", "machine": "test machine"}
        (tmp_path / "dcgan").mkdir(exist_ok=True)
        (tmp_path / "dcgan" / f"seed_{seed}.json").write_text(json.dumps(result))
    # two more methods, whose table order (the script's) is not their alphabetical one; one diverged (W1 NaN)
    for method, w1 in (("dcgan_extragradient", 0.9), ("dcgan_feature_matching", float("nan"))):
        (tmp_path / method).mkdir()
        result = {"val/modes": 1, "val/high_quality": 0.01, "val/w1": w1, "seconds": 10.0, "overrides": []}
        (tmp_path / method / "seed_0.json").write_text(json.dumps(result))
    records = stabilisers.records(tmp_path, [0, 1, 2, 3], "stabilisers")  # seed 3 not run: no record
    assert [(r["run"], r["commit"], r["machine"], r["iteration"]) for r in records[:3]] == [
        ("dcgan/seed0", "abc1234", "test machine", 2000),
        ("dcgan/seed1", "abc1234", "test machine", 2000),
        ("dcgan/seed2", "unknown", "unknown", 2000),  # not this checkout's nor this machine's
    ]
    assert set(RECORD_KEYS) <= set(records[0])
    rows = render_stabilisers(_round_trip(tmp_path, records)).splitlines()[2:]
    assert rows[0] == (
        "| dcgan | 8.0 ± 3.0 (5, 8, 11) | 0.252 ± 0.085 (0.158, 0.275, 0.323) | 0.334 ± 0.063 (0.275, 0.401, 0.325) "
        "| 3 | 131 |"
    )
    assert rows[1].startswith("| dcgan_feature_matching |") and rows[1].endswith("| n/a | 1 | 10 |")
    assert rows[2].startswith("| dcgan_extragradient |")


def _lipschitz_record(setup: str, method: str, order: int, seed: int, metrics: dict, iteration: int) -> dict:
    return new_record(
        "lipschitz", f"{setup}/{method}/seed{seed}", overrides=[], seed=seed, iteration=iteration,
        wall_seconds=100.0 + seed, metrics=metrics, code="abc1234", setup=setup, method=method, order=order,
    )  # fmt: skip


def test_lipschitz_records_render_one_table_per_setup_in_the_methods_order(tmp_path):
    toy = {"val/modes": 8, "val/high_quality": 0.5}
    # "WGAN + SN" sorts before "WGAN-GP" by name: the table keeps the script's method order
    records = [
        _lipschitz_record("8gaussians", "WGAN + SN", 1, 0, {"val/w1": 0.1, **toy}, 2000),
        _lipschitz_record("8gaussians", "WGAN + SN", 1, 1, {"val/w1": 0.2, **toy}, 2000),
        _lipschitz_record(
            "8gaussians", "WGAN-GP", 0, 0, {"val/w1": 0.3, "val/modes": 7, "val/high_quality": 0.4}, 2000
        ),
        _lipschitz_record("fashion_mnist", "WGAN-GP", 0, 0, {"val/inception_score": 2.94, "val/fid": 279.2}, 500),
        _lipschitz_record("fashion_mnist", "WGAN + SN", 1, 0, {"val/inception_score": None, "val/fid": None}, 500),
    ]
    text = render_lipschitz(_round_trip(tmp_path, records))
    assert text == "\n".join(
        [
            "8gaussians, 2000 generator iterations",
            "",
            "| method | seeds | W1 | modes | high quality | train s (mean) |",
            "|---|---|---|---|---|---|",
            "| WGAN-GP | 1 | 0.3 | 7 | 0.4 | 100 |",
            "| WGAN + SN | 2 | 0.15 +- 0.071 | 8 +- 0 | 0.5 +- 0 | 100 |",
            "",
            "fashion_mnist, 500 generator iterations",
            "",
            "| method | seeds | IS | FID | train s (mean) |",
            "|---|---|---|---|---|",
            "| WGAN-GP | 1 | 2.94 | 279 | 100 |",
            "| WGAN + SN | 1 | n/a | n/a | 100 |",  # a diverged run: its NaN scores read back as null
        ]
    )


def test_a_finished_lipschitz_run_is_recorded_with_the_commit_that_measured_it(tmp_path):
    lipschitz = _script("lipschitz_compare")
    run_dir = tmp_path / "out" / "fashion_mnist" / "WGAN_SN" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.csv").write_text(
        "step,train/critic_loss,val/inception_score,val/fid,val/wall_seconds\n250,-1.0,,,\n500,,1.88,532.0,170.0\n"
    )
    results = tmp_path / "results"
    first = lipschitz.run("fashion_mnist", "WGAN + SN", 0, tmp_path / "out", "lipschitz", results)
    assert (first["commit"], first["machine"]) == ("unknown", "unknown")  # trained before records: not this checkout
    assert (first["run"], first["iteration"], first["wall_seconds"]) == ("fashion_mnist/WGAN_SN/seed0", 500, 170.0)
    assert first["metrics"] == {"val/inception_score": 1.88, "val/fid": 532.0}
    assert first["method"] == "WGAN + SN" and "objective=wgan" in first["overrides"]
    assert json.loads((results / "lipschitz/fashion_mnist__WGAN_SN__seed0.json").read_text()) == first  # kept now
    write_record(results, first | {"commit": "abc1234", "machine": "elsewhere"})
    again = lipschitz.run("fashion_mnist", "WGAN + SN", 0, tmp_path / "out", "lipschitz", results)
    assert (again["commit"], again["machine"]) == ("abc1234", "elsewhere")  # as the record already kept says


def test_score_range_records_render_real_images_first(tmp_path):
    scored = [
        ("real/val", "held-out real images (5000)", 0, 7.671, 0.1),
        ("untrained/arch9", "untrained 9 (5000)", 1, 1, 0),
        ("untrained/arch10", "untrained 10 (5000)", 1, None, None),  # sorts before arch9 by name
    ]
    records = [
        new_record(
            "score_range",
            run,
            overrides=[],
            seed=seed,
            iteration=0,
            wall_seconds=None,
            code="abc1234",
            metrics={"val/inception_score": m, "val/inception_score_std": s},
            images=images,
            order=order,
        )  # fmt: skip
        for order, (run, images, seed, m, s) in enumerate(scored)
    ]
    docs = tmp_path / "doc.md"
    docs.write_text(
        "<!-- rendered from results/score_range by wgangp.experiments.comparisons.render_score_range -->\n"
        "<!-- end of rendered table -->\n"
        "<!-- rendered from results/other by wgangp.experiments.comparisons.render_score_range -->\n"
        "left alone\n<!-- end of rendered table -->\n"
    )
    # only the blocks of the tables written are rendered: "other" has no records and stays as it is
    assert keep_records(records, tmp_path / "results", [docs]) == [f"{docs}: score_range"]
    expected = "| held-out real images (5000) | 7.67 +- 0.10 |\n| untrained 9 (5000) | 1.00 +- 0.00 |\n"
    assert expected + "| untrained 10 (5000) | n/a |" in docs.read_text() and "left alone" in docs.read_text()
    assert keep_records(records, tmp_path / "results", [docs]) == []  # the same records: nothing changes
    assert render_score_range(read_records(tmp_path / "results", "score_range")).startswith("| images | IS |")


def test_records_go_to_a_checkouts_docs_only_from_its_own_results_folder(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("text\n")
    assert checkout_docs(tmp_path / "results", tmp_path) == [tmp_path / "docs" / "page.md"]
    assert checkout_docs(tmp_path / "elsewhere", tmp_path) == []
    with pytest.raises(UserInputError, match="'../x' is not a results folder name"):
        write_record(tmp_path, _lipschitz_record("s", "m", 0, 0, {}, 1) | {"table": "../x"})


def test_the_curve_table_gives_each_evaluation_as_the_mean_over_seeds(tmp_path):
    def run(technique: str, seed: int, recall: list[float]) -> dict:
        curve = {"step": [100, 200], "val/recall": recall, "val/fid": [300.0, 200.0]}
        record = new_record(
            "curves", f"{technique}/seed{seed}", overrides=[], seed=seed, iteration=200, wall_seconds=1.0,
            metrics={}, code="abc1234",
        )  # fmt: skip
        return record | {"curve": curve}

    records = [run("dcgan", 0, [0.0, 0.01]), run("dcgan", 1, [0.0, 0.03]), run("wgan_gp", 0, [0.1, 0.2])]
    rows = render_curve_table(_round_trip(tmp_path, records)).splitlines()[2:]
    # techniques in the table's order (WGAN-GP first), then evaluations; a measure never logged is n/a
    assert rows == [
        "| WGAN-GP (Alg. 1) | 100 | 300 | n/a | 0.1 | n/a | n/a |",
        "| WGAN-GP (Alg. 1) | 200 | 200 | n/a | 0.2 | n/a | n/a |",
        "| DCGAN | 100 | 300 ± 0 | n/a | 0 ± 0 | n/a | n/a |",
        "| DCGAN | 200 | 200 ± 0 | n/a | 0.02 ± 0.014 | n/a | n/a |",
    ]
