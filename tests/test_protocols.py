"""Evaluation protocols (conf/protocol/, `src/eval.py protocol=...`): each sets the numbers it names; "full" reference
sets read every image of a split once, in order; eval.py states the protocol of every score it writes (JSON, log,
results record) and refuses what no protocol can score."""

import json
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir

from conftest import REPO, TINY, compose_config, conf_options, run_cli
from wgangp.config_tree import CONF_DIR
from wgangp.data.finite import DecodeSource
from wgangp.data.images import ImageDataModule
from wgangp.data.readers import DigitsReader
from wgangp.errors import UserInputError
from wgangp.eval import PROTOCOL_FIELDS, evaluate
from wgangp.metrics.dinov2 import DinoViT
from wgangp.metrics.features import real_images, reference_stats_path, split_size
from wgangp.results import RECORD_KEYS, protocol_line
from wgangp.train import train

# What each protocol says it is (docs/reproducing.md, "Comparing numbers"): a new protocol file needs its row here.
PROTOCOLS = {
    "fid50k_train": {"num_samples": 50000, "split": "train", "num_real": None, "splits": 10},
    "fid10k_test": {"num_samples": 10000, "split": "val", "num_real": None, "splits": 1},
    "is50k": {"num_samples": 50000, "split": "train", "num_real": 0, "splits": 10},
}
CUSTOM = {"num_samples": None, "split": "train", "num_real": 50000, "splits": 10}  # eval.yaml's own, as before
DIGITS_TRAIN, DIGITS_VAL = 1617, 180  # sklearn's 1797 digits, data.val_fraction=0.1 held out


def compose_eval(*overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("eval", ["ckpt_path=x", *overrides])


# ---- what each protocol sets --------------------------------------------------------------------------------------
def test_every_protocol_file_is_described_and_sets_every_field():
    assert set(conf_options("protocol")) == set(PROTOCOLS)
    for name in PROTOCOLS:
        fields = yaml.safe_load((CONF_DIR / "protocol" / f"{name}.yaml").read_text())
        assert set(fields) == {"name", *PROTOCOL_FIELDS} and fields["name"] == name  # nothing left to eval.yaml's


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_a_protocol_sets_the_numbers_the_evaluators_read(name):
    cfg = compose_eval(f"protocol={name}")
    assert cfg.protocol.name == name
    assert {f: cfg[f] for f in PROTOCOL_FIELDS} == PROTOCOLS[name]
    quality = cfg.evaluators.quality
    assert (quality.num_samples, quality.split, quality.num_real, quality.splits) == tuple(PROTOCOLS[name].values())
    assert cfg.evaluators.precision_recall.num_real == PROTOCOLS[name]["num_real"]


def test_the_docs_table_of_protocols_says_what_the_files_set():
    page = (REPO / "docs/reproducing.md").read_text()
    section = page[page.index("## Comparing numbers") :]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `") and cells[0].strip("`") in PROTOCOLS:
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(PROTOCOLS)
    for name, (_, generated, reference, splits, _) in rows.items():
        assert int(generated.replace(",", "")) == PROTOCOLS[name]["num_samples"]
        assert int(splits) == PROTOCOLS[name]["splits"]
        assert ("none" in reference) == (PROTOCOLS[name]["num_real"] == 0)
        assert ("held-out" in reference) == (PROTOCOLS[name]["split"] == "val")


def test_without_a_protocol_the_numbers_are_todays_under_the_name_custom():
    cfg = compose_eval()
    assert cfg.protocol.name == "custom" and {f: cfg[f] for f in PROTOCOL_FIELDS} == CUSTOM


def test_a_command_line_number_stands_over_the_protocols():
    cfg = compose_eval("protocol=fid50k_train", "num_samples=30")
    assert cfg.num_samples == 30 and cfg.evaluators.quality.num_samples == 30 and cfg.protocol.num_samples == 50000


# ---- the whole split, each image once -----------------------------------------------------------------------------
def test_a_whole_split_is_every_image_once_in_order():
    dm = ImageDataModule(reader=partial(DigitsReader), image_size=8, val_fraction=0.1)
    dm.setup()
    assert split_size(dm, "train") == DIGITS_TRAIN and split_size(dm, "val") == DIGITS_VAL
    read = torch.cat(list(real_images(dm, DIGITS_VAL, "val", 64, whole=True)))
    torch.testing.assert_close(read, dm.val_source.gather(torch.arange(DIGITS_VAL))["real"], rtol=0, atol=0)
    drawn = torch.cat(list(real_images(dm, DIGITS_VAL, "val", 64)))  # the stream: draws with replacement
    assert len(torch.unique(drawn.flatten(1), dim=0)) < len(torch.unique(read.flatten(1), dim=0))


def test_a_whole_split_of_images_decoded_per_index_is_read_in_order():
    images = torch.randint(0, 256, (5, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    dm = SimpleNamespace(source=DecodeSource([(img, None) for img in images]))
    read = torch.cat(list(real_images(dm, split_size(dm, "train"), "train", 2, whole=True)))  # chunks 2, 2, 1
    torch.testing.assert_close(read, images.float() / 127.5 - 1)


def test_a_stream_has_no_whole_split():
    with pytest.raises(UserInputError, match="num_real=N"):
        split_size(SimpleNamespace(source=object()), "train")


def test_whole_and_drawn_statistics_are_cached_apart():
    dm = SimpleNamespace()
    drawn = reference_stats_path("s", {"x": 1}, dm, "train", "inception", 50000)
    whole = reference_stats_path("s", {"x": 1}, dm, "train", "inception", 50000, whole=True)
    assert drawn != whole and "-n50000-" in drawn.name and "-all50000-" in whole.name


# ---- eval.py on a digits checkpoint -------------------------------------------------------------------------------
CHEAP_CLASSIFIER = [
    "metrics=classifier",
    "metrics.extractor.epochs=1",
    "metrics.extractor.max_images=256",
    "metrics.extractor.min_val_accuracy=0",
]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A 2-iteration digits run (IS/FID off in training: no Inception weights) and the caches its evaluations share."""
    root = tmp_path_factory.mktemp("digits")
    overrides = [
        *(o for o in TINY if not o.startswith("model.")),
        "data=digits",
        "model=dcgan",
        "model.generator.base_filters=8",
        "model.critic.base_filters=8",
        "generator_iters=2",
        f"metrics.inception_weights={root / 'none.pth'}",
    ]
    train(compose_config(root / "run", overrides))
    ckpt = root / "run/checkpoints/last.ckpt"
    common = [
        f"ckpt_path={ckpt}",
        "batch_size=20",
        "kid_subsets=3",
        "kid_subset_size=20",
        f"results_dir={root / 'results'}",
    ]
    classifier = [
        *CHEAP_CLASSIFIER,
        f"metrics.extractor.cache_dir={root / 'classifiers'}",
        f"metrics.stats_dir={root / 'stats'}",
    ]
    return SimpleNamespace(root=root, ckpt=ckpt, common=common, classifier=classifier)


def evaluate_digits(digits, *overrides, metrics=None):
    """src/eval.py's evaluate on the digits checkpoint; `metrics`: the feature space (default: the cheap classifier)."""
    metrics = digits.classifier if metrics is None else metrics
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return evaluate(compose("eval", [*digits.common, *metrics, *overrides]))


def test_fid10k_test_scores_against_every_held_out_image_and_records_it(digits):
    out = digits.root / "fid10k_test.json"
    result = evaluate_digits(digits, "protocol=fid10k_test", "num_samples=30", "results_table=protocols", f"out={out}")
    assert json.loads(out.read_text()) == result
    protocol = result["protocol"]
    assert protocol["name"] == "fid10k_test" and protocol["feature_space"].startswith("classifier-")
    assert protocol["as_defined"] is False and protocol["changed"] == {"num_samples": 30}  # not StudioGAN's 10K
    assert (protocol["num_samples"], protocol["split"], protocol["num_real"], protocol["real_set"]) == (
        30,
        "val",
        DIGITS_VAL,
        "all",
    )
    assert protocol["splits"] == 1 and protocol["seed"] == 0 and protocol["ema"] is False
    # every image measure scored against the 180 held-out images, read once each, through one cache
    assert result["num_real"] == DIGITS_VAL
    assert result["precision_recall_num_real"] == result["density_coverage_num_real"] == DIGITS_VAL
    assert f"-val-{protocol['feature_space']}-all{DIGITS_VAL}-" in result["stats_path"]
    features = torch.load(Path(result["precision_recall_features_path"]), weights_only=True)
    assert features.shape == (DIGITS_VAL, 128)
    assert {"fid", "kid", "inception_score", "precision", "recall", "density", "coverage"} <= set(result)

    (path,) = (digits.root / "results/protocols").glob("*.json")
    record = json.loads(path.read_text())
    assert set(RECORD_KEYS) <= set(record) and record["table"] == "protocols"
    assert record["protocol"] == "fid10k_test" and record["protocol_settings"] == protocol
    assert record["feature_space"] == protocol["feature_space"] and record["num_samples"] == 30
    assert record["num_real"] == DIGITS_VAL and record["split"] == "val"
    assert record["checkpoint"] == str(digits.ckpt.resolve()) and record["iteration"] == 2 and record["seed"] == 0
    assert record["metrics"]["val/fid"] == result["fid"] and record["metrics"]["val/precision"] == result["precision"]
    # a docs table rendered from such records opens with the protocol its scores follow (wgangp.results)
    assert protocol_line([record, record]) == (
        f"Protocol: fid10k_test with num_samples=30, not as defined (30 generated vs all {DIGITS_VAL} val images, "
        f"{protocol['feature_space']} features, seed 0)."
    )
    # the run directory's last two folders: a sweep's runs share their leaf names (wgan_gp/seed0, dcgan/seed0)
    assert record["run"] == f"{digits.root.name}/run/last/fid10k_test/{protocol['feature_space']}/seed0"


def test_a_record_of_another_checkpoint_under_the_same_run_name_stops_the_evaluation(digits):
    table = digits.root / "results" / "shared_names"
    table.mkdir(parents=True)
    taken = table / f"{digits.root.name}__run__last__fid10k_test__classifier-x__seed0.json"
    taken.write_text(json.dumps({"run": "...", "checkpoint": "/elsewhere/wgan_gp/run/checkpoints/last.ckpt"}))
    with pytest.raises(
        UserInputError, match="holds the fid10k_test record of the checkpoint /elsewhere.*overwrite=true"
    ):
        evaluate_digits(digits, "protocol=fid10k_test", "num_samples=30", "results_table=shared_names")
    assert json.loads(taken.read_text())["checkpoint"].startswith("/elsewhere")  # kept
    # another protocol or seed is another record: nothing to replace
    evaluate_digits(digits, "protocol=fid10k_test", "num_samples=30", "results_table=shared_names", "seed=1")
    # named apart, it is written beside the other
    evaluate_digits(digits, "protocol=fid10k_test", "num_samples=30", "results_table=shared_names", "run_name=mine")
    assert len(list(table.glob("mine__last__fid10k_test__*.json"))) == 1
    # overwrite=true replaces it (the same run moved, or another clone's copy)
    evaluate_digits(digits, "protocol=fid10k_test", "num_samples=30", "results_table=shared_names", "overwrite=true")
    (mine,) = [p for p in table.glob(f"{digits.root.name}__run__last__fid10k_test__*__seed0.json") if p != taken]
    assert json.loads(mine.read_text())["checkpoint"] == str(digits.ckpt.resolve())


def test_is50k_scores_the_inception_score_alone(digits):
    result = evaluate_digits(digits, "protocol=is50k", "num_samples=40")
    written = digits.ckpt.with_name("last.is50k.eval.json")  # the default out of a protocol: one file per protocol
    assert json.loads(written.read_text()) == result
    protocol = result["protocol"]
    assert (protocol["name"], protocol["num_samples"], protocol["splits"]) == ("is50k", 40, 10)
    assert protocol["real_set"] == "none" and protocol["num_real"] == 0 and protocol["changed"] == {"num_samples": 40}
    assert 1 <= result["inception_score"] <= 10 and result["inception_score_std"] > 0  # 10 digit classes, 10 splits
    assert not {"fid", "kid", "precision", "density"} & set(result)  # no real images, nothing to compare with


def test_without_a_protocol_todays_numbers_are_recorded_as_custom(digits):
    result = evaluate_digits(digits, "num_samples=30", "num_real=60", f"out={digits.root / 'custom.json'}")
    protocol = result["protocol"]
    assert protocol["name"] == "custom" and protocol["as_defined"] is True and protocol["changed"] == {}
    assert (protocol["num_samples"], protocol["num_real"], protocol["real_set"]) == (30, 60, "drawn")
    assert "-train-" in result["stats_path"] and "-n60-" in result["stats_path"]  # the stream's draws, as before
    assert not (digits.root / "results").exists() or not list((digits.root / "results").glob("*/*custom*"))


def test_the_command_line_prints_the_protocol_with_every_score(digits):
    out = digits.root / "cli.json"
    proc = run_cli(
        "eval.py", *digits.common, *digits.classifier, "protocol=fid50k_train", "num_samples=20", "results_table=cli",
        f"out={out}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    logged = proc.stdout + proc.stderr
    label = f"protocol fid50k_train with num_samples=20, not as defined (20 generated vs all {DIGITS_TRAIN} train"
    assert f"quality, {label}" in logged and f"wrote {out}, {label}" in logged
    (path,) = (digits.root / "results/cli").glob("*.json")
    record = json.loads(path.read_text())
    assert "protocol=fid50k_train" in record["overrides"] and record["num_real"] == DIGITS_TRAIN


def test_fd_dinov2_scores_the_checkpoint_in_dinov2s_feature_space(digits):
    # ViT-S/14 (torch-fidelity's dinov2-vit-s-14) with random weights: the real weights cannot be had here
    weights = digits.root / "dinov2_vits14_pretrain.pth"
    torch.manual_seed(0)
    torch.save(DinoViT.of("dinov2-vit-s-14").state_dict(), weights)
    dinov2 = [
        "metrics=dinov2",
        "metrics.extractor.model=dinov2-vit-s-14",
        f"metrics.dinov2_weights={weights}",
        f"metrics.stats_dir={digits.root / 'stats'}",
    ]
    result = evaluate_digits(
        digits, "protocol=fid10k_test", "num_samples=20", f"out={digits.root / 'dinov2.json'}", metrics=dinov2
    )
    assert result["protocol"]["feature_space"] == result["extractor"] == "dinov2-vit-s-14"
    features = torch.load(Path(result["precision_recall_features_path"]), weights_only=True)
    assert features.shape == (DIGITS_VAL, 384)  # the CLS token of every held-out image
    assert result["fid"] > 0 and "inception_score" not in result  # no logits: FD-DINOv2 without an IS


def test_missing_extractor_weights_stop_the_evaluation_before_it_scores(digits):
    out = digits.root / "missing.json"
    missing = digits.root / "dinov2_vitl14_pretrain.pth"
    proc = run_cli(
        "eval.py", f"ckpt_path={digits.ckpt}", "metrics=dinov2", f"metrics.dinov2_weights={missing}", f"out={out}"
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    message = proc.stderr.strip().splitlines()[-1]
    assert f"weights not found at {missing}" in message and "dinov2_vitl14_pretrain.pth" in message
    assert "https://dl.fbaipublicfiles.com/dinov2/" in message and "Traceback" not in proc.stderr
    assert not out.exists()


def test_a_protocol_on_a_run_without_image_evaluators_is_refused(toy_ckpt, tmp_path):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("eval", [f"ckpt_path={toy_ckpt}", "protocol=fid50k_train", f"out={tmp_path / 'toy.json'}"])
        with pytest.raises(UserInputError, match="protocol=fid50k_train sets the numbers of IS/FID"):
            evaluate(cfg)
        result = evaluate(compose("eval", [f"ckpt_path={toy_ckpt}", "w1_points=50", f"out={tmp_path / 'toy.json'}"]))
    assert result["protocol"] == {"name": "custom", "as_defined": True, "changed": {}, "seed": 0, "ema": False}
    assert "w1" in result


def test_a_results_table_must_be_a_folder_name(toy_ckpt):
    proc = run_cli("eval.py", f"ckpt_path={toy_ckpt}", "results_table=../elsewhere")
    assert proc.returncode == 2 and "results_table='../elsewhere' is not a results folder name" in proc.stderr
