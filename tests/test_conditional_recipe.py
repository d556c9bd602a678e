"""experiment=fashion_conditional: the class-conditional recipe composes as documented and trains on labelled
digits (the bundled 8x8 digits at 28x28 standing in for Fashion-MNIST: no download in tests)."""

import csv

import lightning as L
import torch

from conftest import DIGITS, compose_config
from wgangp.build import build
from wgangp.checkpoints import load_checkpoint
from wgangp.nets.conditional import ConditionalDCGANGenerator, DCGANACGANCritic
from wgangp.objectives.acgan import WGANGPACGAN
from wgangp.train import train

# the recipe's classifier, trained in a second: its accuracy is not the point of a plumbing test
CHEAP_CLASSIFIER = [
    "metrics.extractor.epochs=1",
    "metrics.extractor.max_images=256",
    "metrics.extractor.min_val_accuracy=0",
]


def test_the_recipe_composes_the_conditioning_settings(tmp_path):
    cfg = compose_config(tmp_path, ["experiment=fashion_conditional"])
    assert cfg.data.dataset_class == "torchvision.datasets.FashionMNIST"
    assert cfg.metrics.extractor._target_ == "wgangp.metrics.classifier.ClassifierFeatures"
    assert cfg.model.generator._target_.endswith("ConditionalDCGANGenerator") and cfg.model.generator.label_input
    assert cfg.model.critic._target_.endswith("DCGANACGANCritic")
    assert cfg.objective._target_.endswith("WGANGPACGAN")
    assert (cfg.objective.acgan_scale, cfg.objective.acgan_scale_g) == (1.0, 1.0)
    assert (cfg.objective.n_critic, cfg.objective.gp_weight, cfg.objective.optimizer.lr) == (5, 10.0, 1e-4)  # Alg. 1
    assert cfg.generator_iters == 2000 and cfg.evaluators.conditional.every_n_iters == 250
    assert cfg.evaluators.samples.every_n_iters == 250  # the per-class grid beside each accuracy


def test_the_recipe_trains_two_iterations_on_labelled_digits_and_scores_the_classes(tmp_path):
    overrides = [
        "experiment=fashion_conditional",
        *DIGITS,  # after the recipe: data=digits at 28x28, base_filters 4, the quick debug=fast evaluators
        "generator_iters=2",
        "evaluators.precision_recall=null",  # with quality off (DIGITS) these would embed 10K real images
        "evaluators.density_coverage=null",
        *CHEAP_CLASSIFIER,
        f"metrics.extractor.cache_dir={tmp_path / 'classifiers'}",
        f"metrics.stats_dir={tmp_path / 'stats'}",
    ]
    cfg = compose_config(tmp_path / "run", overrides)
    assert cfg.model.generator.label_input and cfg.objective.acgan_scale_g == 1.0  # DIGITS keeps the recipe's
    L.seed_everything(cfg.seed, verbose=False)  # as train() does before it builds: the initial weights
    _, initial = build(cfg)
    assert isinstance(initial, WGANGPACGAN) and isinstance(initial.critic, DCGANACGANCritic)
    assert isinstance(initial.generator, ConditionalDCGANGenerator)
    train(cfg)
    ckpt = load_checkpoint(tmp_path / "run/checkpoints/last.ckpt")
    assert ckpt["wgangp"]["generator_iter"] == 2 and ckpt["wgangp"]["run_config"]["num_classes"] == 10
    state = ckpt["state_dict"]
    # the class in the generator's input (num_classes, 16 * widths[0]) and the critic's class head both trained
    for name in ("generator.class_input.weight", "critic.classifier.weight"):
        before = initial.state_dict()[name]
        assert state[name].shape == before.shape and not torch.equal(state[name], before), name
    with open(tmp_path / "run/metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ce = [float(r["train/acgan_generator_ce"]) for r in rows if r.get("train/acgan_generator_ce")]
    accuracy = [float(r["val/cond_accuracy"]) for r in rows if r.get("val/cond_accuracy")]
    assert len(ce) == 2 and all(c > 0 for c in ce)  # the generator's class loss, logged every iteration
    assert accuracy and all(0.0 <= a <= 1.0 for a in accuracy)  # the classifier scored the classes asked for
    # the per-class grid of every evaluation: one row per class, the same z down each column
    from PIL import Image

    grids = sorted((tmp_path / "run/samples").glob("samples_*.png"))
    assert grids, "no per-class grid written at the evaluations"
    width, height = Image.open(grids[-1]).size
    assert height == 2 + 10 * 30  # 10 classes: 28 px rows and torchvision's 2 px padding
