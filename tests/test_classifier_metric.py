"""metrics=classifier: the offline IS / FID / KID extractor trained once on the run's labelled data."""

import csv
import json
import math

import pytest
import torch

import wgangp.metrics.classifier as classifier_module
from conftest import compose_config, run_cli
from wgangp.data.base import GANDataModule
from wgangp.data.finite import TensorSource
from wgangp.data.images import ImageDataModule
from wgangp.data.readers import DigitsReader
from wgangp.errors import UserInputError
from wgangp.metrics.classifier import ClassifierFeatures
from wgangp.metrics.quality import QualityScores
from wgangp.train import train

DIGITS = {
    "_target_": "wgangp.data.images.ImageDataModule",
    "reader": {"_target_": "wgangp.data.readers.DigitsReader", "_partial_": True},
    "image_size": 16,
    "val_fraction": 0.1,
}


class UnlabelledImages(GANDataModule):
    """Images without labels (an image folder's situation)."""

    data_shape = (1, 8, 8)

    def load(self, split):
        return TensorSource(torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8))


def inception_score(extractor, images):
    """IS over one split of the classifier's logits on `images`, through the evaluators' QualityScores."""
    q = QualityScores(extractor, images[:1], splits=1, sync=False)
    q.update_fake(images)
    return q.compute()["inception_score"]


@pytest.fixture(scope="module")
def digits_classifier(tmp_path_factory):
    cache = tmp_path_factory.mktemp("classifiers")
    return ClassifierFeatures(DIGITS, str(cache), epochs=4), cache


def test_classifier_separates_real_digits_from_noise(digits_classifier):
    extractor, _ = digits_classifier
    assert extractor.val_accuracy >= 0.8
    val = ImageDataModule(DigitsReader, image_size=16, val_fraction=0.1).load("val")
    real = val.gather(torch.arange(len(val)))["real"]  # (180, 1, 16, 16), about 18 of each class
    out = extractor(real)
    assert out["pool"].shape == (len(real), 128) and out["logits"].shape == (len(real), 10)
    real_is = inception_score(extractor, real)
    noise_is = inception_score(extractor, torch.rand(180, 1, 16, 16) * 2 - 1)
    assert real_is > 6.0 > 3.0 > noise_is  # 10 balanced classes, confidently told apart: IS near 10


def test_classifier_is_trained_once_and_then_loaded_from_the_cache(digits_classifier, monkeypatch):
    extractor, cache = digits_classifier
    monkeypatch.setattr(classifier_module, "train_classifier", lambda *a, **k: pytest.fail("trained again"))
    again = ClassifierFeatures(DIGITS, str(cache), epochs=4)
    x = torch.rand(5, 1, 16, 16) * 2 - 1
    torch.testing.assert_close(again(x)["logits"], extractor(x)["logits"])
    assert again.name == extractor.name and again.path == extractor.path
    other = {**DIGITS, "image_size": 12}  # another data config never reuses this classifier
    with pytest.raises(pytest.fail.Exception, match="trained again"):
        ClassifierFeatures(other, str(cache), epochs=4)


def test_unlabelled_data_is_refused_with_the_fix(tmp_path):
    target = {"_target_": f"{__name__}.UnlabelledImages", "batch_size": 8}
    with pytest.raises(UserInputError, match="has none.*metrics=inception"):
        ClassifierFeatures(target, str(tmp_path), epochs=1)
    assert not list(tmp_path.glob("*.pt"))


def test_a_classifier_that_cannot_classify_is_rejected(tmp_path):
    with pytest.raises(UserInputError, match="held-out accuracy.*epochs"):
        ClassifierFeatures(DIGITS, str(tmp_path), epochs=0)  # an untrained net: about 10% accuracy
    assert not list(tmp_path.glob("*.pt"))


# the plumbing test's classifier: trained in a second, its accuracy is not the point here
CHEAP_CLASSIFIER = [
    "metrics=classifier",
    "metrics.extractor.epochs=1",
    "metrics.extractor.max_images=256",
    "metrics.extractor.min_val_accuracy=0",
]


def test_training_and_eval_score_digits_with_the_classifier(tmp_path):
    cache = tmp_path / "classifiers"
    cfg = compose_config(
        tmp_path / "run",
        [
            "debug=fast",
            "callbacks.progress.refresh_rate=0",
            "data=digits",
            "model=dcgan",
            "model.generator.base_filters=8",
            "model.critic.base_filters=8",
            *CHEAP_CLASSIFIER,
            f"metrics.extractor.cache_dir={cache}",
            f"metrics.stats_dir={tmp_path / 'stats'}",
        ],
    )
    train(cfg)
    with open(tmp_path / "run/metrics.csv", newline="") as f:
        scores = [float(r["val/inception_score"]) for r in csv.DictReader(f) if r.get("val/inception_score")]
    assert len(scores) >= 2 and all(1.0 <= s <= 10.0 for s in scores)  # debug=fast scores every 2 iterations
    ckpt = tmp_path / "run/checkpoints/last.ckpt"
    out = run_cli(
        "eval.py",
        f"ckpt_path={ckpt}",
        "num_samples=40",
        "num_real=60",
        "batch_size=20",
        "kid_subsets=3",
        "kid_subset_size=20",
        *CHEAP_CLASSIFIER,
        f"metrics.extractor.cache_dir={cache}",
        f"metrics.stats_dir={tmp_path / 'stats'}",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(ckpt.with_suffix(".eval.json").read_text())
    assert result["extractor"].startswith("classifier-") and 1.0 <= result["inception_score"] <= 10.0
    assert result["fid"] > 0 and math.isfinite(result["kid"])


def test_a_run_on_a_subset_is_scored_by_the_full_training_sets_classifier(tmp_path):
    """data.subset=N limits what the GAN trains on, not the judge: the classifier (and its cache key) is the one of
    the whole training split, so a limited-data run is scored like a full one (Sec. 5.6 with augmentation)."""
    from wgangp.metrics.classifier import ClassifierFeatures

    data = {"_target_": "wgangp.data.toy.Unused", "root": "x", "subset": None}
    calls = []

    class Spy(ClassifierFeatures):
        def _train(self, config, *args):
            calls.append(config)
            raise RuntimeError("stop")

    for subset in (None, 100):
        with pytest.raises(RuntimeError, match="stop"):
            Spy({**data, "subset": subset}, cache_dir=str(tmp_path))
    assert calls[0] == calls[1] and calls[1]["subset"] is None
