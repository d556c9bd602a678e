"""The comparison scripts keep their measurements as results records (wgangp.results) and their docs tables render
from those records: scripts/stabilisers.py, scripts/lipschitz_compare.py and scripts/score_range.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from wgangp.experiments.comparisons import render_lipschitz, render_score_range, render_stabilisers
from wgangp.results import RECORD_KEYS, keep_records, new_record, read_records, write_record

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
            result["commit"] = "abc1234"
        (tmp_path / "dcgan").mkdir(exist_ok=True)
        (tmp_path / "dcgan" / f"seed_{seed}.json").write_text(json.dumps(result))
    records = stabilisers.records(tmp_path, [0, 1, 2, 3], "stabilisers")  # seed 3 not run: no record
    assert [(r["run"], r["commit"], r["iteration"]) for r in records] == [
        ("dcgan/seed0", "abc1234", 2000),
        ("dcgan/seed1", "abc1234", 2000),
        ("dcgan/seed2", "unknown", 2000),
    ]
    assert set(RECORD_KEYS) <= set(records[0])
    table = render_stabilisers(_round_trip(tmp_path, records))
    assert table.splitlines()[2] == (
        "| dcgan | 8.0 ± 3.0 (5, 8, 11) | 0.252 ± 0.085 (0.158, 0.275, 0.323) | 0.334 ± 0.063 (0.275, 0.401, 0.325) "
        "| 3 | 131 |"
    )


def _lipschitz_record(setup: str, method: str, order: int, seed: int, metrics: dict, iteration: int) -> dict:
    return new_record(
        "lipschitz", f"{setup}/{method}/seed{seed}", overrides=[], seed=seed, iteration=iteration,
        wall_seconds=100.0 + seed, metrics=metrics, code="abc1234", setup=setup, method=method, order=order,
    )  # fmt: skip


def test_lipschitz_records_render_one_table_per_setup_in_the_methods_order(tmp_path):
    records = [
        _lipschitz_record(
            "8gaussians", "hinge + SN", 1, s, {"val/w1": w, "val/modes": 8, "val/high_quality": 0.5}, 2000
        )
        for s, w in ((0, 0.1), (1, 0.2))
    ] + [
        _lipschitz_record(
            "8gaussians", "WGAN-GP", 0, 0, {"val/w1": 0.3, "val/modes": 7, "val/high_quality": 0.4}, 2000
        ),
        _lipschitz_record("fashion_mnist", "WGAN-GP", 0, 0, {"val/inception_score": 2.94, "val/fid": 279.2}, 500),
    ]
    text = render_lipschitz(_round_trip(tmp_path, records))
    assert text == "\n".join(
        [
            "8gaussians, 2000 generator iterations",
            "",
            "| method | seeds | W1 | modes | high quality | train s (mean) |",
            "|---|---|---|---|---|---|",
            "| WGAN-GP | 1 | 0.3 | 7 | 0.4 | 100 |",
            "| hinge + SN | 2 | 0.15 +- 0.071 | 8 +- 0 | 0.5 +- 0 | 100 |",
            "",
            "fashion_mnist, 500 generator iterations",
            "",
            "| method | seeds | IS | FID | train s (mean) |",
            "|---|---|---|---|---|",
            "| WGAN-GP | 1 | 2.94 | 279 | 100 |",
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
    assert first["commit"] == "unknown"  # trained before records, by an unknown checkout: not this one
    assert (first["run"], first["iteration"], first["wall_seconds"]) == ("fashion_mnist/WGAN_SN/seed0", 500, 170.0)
    assert first["metrics"] == {"val/inception_score": 1.88, "val/fid": 532.0}
    assert first["method"] == "WGAN + SN" and "objective=wgan" in first["overrides"]
    write_record(results, first | {"commit": "abc1234"})
    again = lipschitz.run("fashion_mnist", "WGAN + SN", 0, tmp_path / "out", "lipschitz", results)
    assert again["commit"] == "abc1234"  # the record already kept names the commit that measured the run


def test_score_range_records_render_real_images_first(tmp_path):
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
        for order, (run, images, seed, m, s) in enumerate(
            [
                ("real/val", "held-out real images (5000)", 0, 7.671, 0.1),
                ("untrained/arch0", "untrained (5000)", 1, 1, 0),
            ]
        )
    ]
    docs = tmp_path / "doc.md"
    docs.write_text(
        "<!-- rendered from results/score_range by wgangp.experiments.comparisons.render_score_range -->\n"
        "<!-- end of rendered table -->\n"
    )
    assert keep_records(records, tmp_path / "results", [docs]) == [f"{docs}: score_range"]
    assert "| held-out real images (5000) | 7.67 +- 0.10 |\n| untrained (5000) | 1.00 +- 0.00 |" in docs.read_text()
    assert keep_records(records, tmp_path / "results", [docs]) == []  # the same records: nothing changes
    assert render_score_range(read_records(tmp_path / "results", "score_range")).startswith("| images | IS |")
