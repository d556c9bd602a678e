"""Precision/recall and density/coverage (wgangp.metrics.manifold): closed forms on tiny point sets, the papers'
properties, parity with torch-fidelity; their evaluators end to end on digits with metrics=classifier, sharing the
real features of IS/FID/KID; and the EvalContext every evaluator gets, the same in training and in src/eval.py."""

import csv

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict
from torch import nn
from torch_fidelity.metric_prc import calculate_precision_recall_full, calculate_precision_recall_part

import wgangp.evaluation.features as features_module
import wgangp.metrics.manifold as manifold
from conftest import TINY, compose_config, trust_targets
from wgangp.evaluation.base import Evaluator
from wgangp.evaluation.context import EvalContext, eval_context
from wgangp.evaluation.density_coverage import DensityCoverage
from wgangp.latents import LatentCodes
from wgangp.metrics.manifold import density_coverage, knn_radii, precision_recall
from wgangp.rng import eval_generator
from wgangp.train import train


def points(*xs):
    """Points on the x axis: (n, 2) float64."""
    return torch.tensor([[x, 0.0] for x in xs], dtype=torch.float64)


def gaussian(n, centre, std, seed):
    """n points of N(centre, std^2 I), (n, len(centre)) float64."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.as_tensor(centre, dtype=torch.float64)
    return torch.randn(n, len(centre), generator=g, dtype=torch.float64) * std + centre


# ---- closed forms ------------------------------------------------------------------------------------------------
def test_hand_computed_values_on_four_real_and_three_generated_points():
    real, fake = points(0, 1, 3, 10), points(0.5, 2.5, 6)
    # k = 1: real radii 1, 1, 2, 7 (the outlier at 10 reaches 3); generated radii 2, 2, 3.5
    torch.testing.assert_close(knn_radii(real, 1), torch.tensor([1.0, 1.0, 2.0, 7.0], dtype=torch.float64))
    torch.testing.assert_close(knn_radii(fake, 1), torch.tensor([2.0, 2.0, 3.5], dtype=torch.float64))
    precision, recall = precision_recall(real, fake, k=1)
    # 0.5 is in the balls of 0 and 1, 2.5 in that of 3, 6 in the outlier's (|6 - 10| = 4 <= 7): all inside;
    # 10 is 4 from 6, whose ball reaches 3.5: the one real point outside the generated manifold
    assert (precision, recall) == (1.0, 0.75)
    density, coverage = density_coverage(real, fake, k=1)
    # balls holding each generated point: 0.5 -> 2 (of 0 and 1), 2.5 -> 1 (of 3), 6 -> 1 (the outlier's)
    assert density == pytest.approx(4 / 3) and coverage == 1.0


def test_precision_counts_points_on_a_balls_sphere_and_density_does_not():
    # Kynkaanniemi et al.'s code and torch-fidelity take closed balls (<=), Naeem et al.'s code open ones (<)
    real, fake = points(0, 1), points(2, -1)  # k = 1: both radii 1; each generated point on one sphere
    assert precision_recall(real, fake, k=1)[0] == 1.0
    assert density_coverage(real, fake, k=1) == (0.0, 0.0)


def test_identical_sets_give_precision_recall_and_coverage_1_and_density_1():
    x = gaussian(400, [0.0] * 8, 1.0, seed=0)
    assert precision_recall(x, x.clone(), k=3) == (1.0, 1.0)
    density, coverage = density_coverage(x, x.clone(), k=5)
    # each open ball holds its own centre and the k - 1 nearer neighbours: k points, so density (k N) / (k N) = 1
    assert coverage == 1.0 and density == pytest.approx(1.0, abs=0.01)


def test_independent_samples_of_one_distribution_score_near_1():
    real, fake = gaussian(2000, [0.0, 0.0], 1.0, seed=1), gaussian(2000, [0.0, 0.0], 1.0, seed=2)
    precision, recall = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake)
    assert precision > 0.9 and recall > 0.9 and coverage > 0.9
    assert density == pytest.approx(1.0, abs=0.1)  # E[density] = 1 (Naeem et al. 2020, Sec. 3.2)


def test_a_set_inside_one_mode_of_two_has_precision_1_and_recall_about_one_half():
    real = torch.cat([gaussian(500, [-10.0, 0.0], 1.0, seed=3), gaussian(500, [10.0, 0.0], 1.0, seed=4)])
    # the left mode's own points, moved a little: inside the real manifold, and covering half of it
    left = real[:500] + 1e-3 * gaussian(500, [0.0, 0.0], 1.0, seed=5)
    assert precision_recall(real, left) == (1.0, 0.5)
    # a fresh sample of the left mode: about half the real points lie inside its manifold
    fresh = gaussian(500, [-10.0, 0.0], 1.0, seed=6)
    precision, recall = precision_recall(real, fresh)
    assert precision > 0.95 and 0.45 < recall <= 0.5
    density, coverage = density_coverage(real, fresh)
    assert 0.4 < coverage <= 0.5 and density == pytest.approx(1.0, abs=0.15)  # the mode's own density


def test_generated_outliers_lower_density_by_their_share():
    real, fake = gaussian(1000, [0.0, 0.0], 1.0, seed=7), gaussian(900, [0.0, 0.0], 1.0, seed=8)
    clean, _ = density_coverage(real, fake)
    with_outliers, _ = density_coverage(real, torch.cat([fake, gaussian(100, [50.0, 50.0], 1.0, seed=9)]))
    # the 100 outliers lie in no real ball: the same ball count over 1000 points instead of 900
    assert with_outliers == pytest.approx(clean * 900 / 1000)


def test_a_real_outlier_inflates_precision_but_not_density():
    # Naeem et al.'s motivation: one real outlier's large ball counts samples far off the data as precise
    real = torch.cat([gaussian(999, [0.0, 0.0], 1.0, seed=10), points(30)])
    off_data = gaussian(500, [22.0, 0.0], 0.5, seed=12)  # 8 from the outlier, whose 5th neighbour is about 27 away
    assert precision_recall(real, off_data)[0] == 1.0  # all "precise": inside the outlier's ball
    assert density_coverage(real, off_data)[0] == pytest.approx(1 / 5)  # one ball each, of k = 5
    on_data = gaussian(500, [0.0, 0.0], 1.0, seed=11)
    both, _ = density_coverage(real, torch.cat([on_data, off_data]))
    assert both == pytest.approx(density_coverage(real, on_data)[0] / 2 + 1 / 10)


# ---- torch-fidelity, chunks ---------------------------------------------------------------------------------------
def test_precision_recall_equal_torch_fidelitys_on_the_same_features():
    real, fake = gaussian(300, [0.0] * 16, 1.0, seed=13), gaussian(250, [0.3] * 16, 1.2, seed=14)
    for k in (3, 5):
        ours = precision_recall(real, fake, k=k)
        # torch-fidelity's convention: features_1 generated, features_2 real; it averages in float32, so the
        # same counts give values 1e-8 apart (one point is 1/300 here)
        full = calculate_precision_recall_full(fake, real, neighborhood=k, batch_size=10000)
        part = calculate_precision_recall_part(fake, real, neighborhood=k, batch_size=64)
        assert ours == pytest.approx(full, abs=1e-6) and ours == pytest.approx(part, abs=1e-6)
        assert 0 < ours[0] < 1 and 0 < ours[1] < 1  # a case where neither is trivial


def test_distances_are_taken_in_chunks_and_chunks_do_not_change_the_values(monkeypatch):
    real, fake = gaussian(700, [0.0] * 4, 1.0, seed=15), gaussian(600, [0.2] * 4, 1.0, seed=16)
    whole = precision_recall(real, fake, chunk=10_000), density_coverage(real, fake, chunk=10_000)
    shapes = []
    cdist = torch.cdist
    monkeypatch.setattr(manifold.torch, "cdist", lambda a, b: shapes.append((len(a), len(b))) or cdist(a, b))
    assert (precision_recall(real, fake, chunk=128), density_coverage(real, fake, chunk=128)) == whole
    assert shapes and max(rows for rows, _ in shapes) == 128  # never a 700 x 600 matrix, let alone 10K x 10K


def test_too_few_points_for_k_are_refused():
    with pytest.raises(ValueError, match="k-th nearest neighbour"):
        knn_radii(points(0, 1, 2), 3)
    with pytest.raises(ValueError, match="num_neighbours=5"):
        DensityCoverage(nn.Identity, "stats", num_samples=5, num_real=100)


# ---- the context --------------------------------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self, latent_dim=6, num_classes=None):
        super().__init__()
        self.latent_dim, self.anchor = latent_dim, nn.Parameter(torch.zeros(()))
        if num_classes is not None:
            self.takes_labels, self.num_classes = True, num_classes


def test_the_context_draws_what_the_named_streams_gave_before():
    plain = eval_context(Net(), seed=3)
    z, labels = plain.draw(10, plain.rng("quality"))
    assert labels is None and torch.equal(z, torch.randn(10, 6, generator=eval_generator(3, "quality")))
    conditional = eval_context(Net(num_classes=4), seed=3)
    z, labels = conditional.draw(10, conditional.rng("samples"))
    rng = eval_generator(3, "samples")  # z first, then uniform labels, from one stream
    assert torch.equal(z, torch.randn(10, 6, generator=rng)) and torch.equal(
        labels, torch.randint(4, (10,), generator=rng)
    )
    codes = LatentCodes(6, (3,), 1)
    info = eval_context(Net(), seed=3, codes=codes, q_output=lambda x: x)
    assert torch.equal(info.draw(10, info.rng("x"))[0], codes.sample(10, eval_generator(3, "x")))
    assert eval_context(Net(), seed=3, q_output=lambda x: x).q_output is None  # a Q head only with codes
    with pytest.raises(AttributeError):
        plain.seed = 4  # frozen


CONTEXTS: list[tuple[EvalContext, torch.Tensor]] = []


class ContextProbe(Evaluator):
    """Records the context it is set up with and the inputs it draws from it."""

    def setup(self, datamodule, context):
        CONTEXTS.append((context, context.draw(8, context.rng("probe"))[0]))

    def evaluate(self, generator, critic):
        return {}


def test_training_and_eval_give_evaluators_the_same_context(tiny_config, tmp_path):
    from wgangp.config_tree import CONF_DIR
    from wgangp.eval import evaluate

    CONTEXTS.clear()
    cfg = tiny_config("generator_iters=2", "seed=5")
    with open_dict(cfg):
        cfg.evaluators.probe = OmegaConf.create({"_target_": f"{__name__}.ContextProbe", "every_n_iters": 0})
    train(cfg)
    trust_targets(tmp_path / "user_conf", f"{__name__}.ContextProbe")
    ckpt = tmp_path / "run/checkpoints/last.ckpt"
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        evaluate(compose("eval", [f"ckpt_path={ckpt}", "seed=5", "w1_points=50", f"out={tmp_path}/e.json"]))
    (trained, z_trained), (evaluated, z_evaluated) = CONTEXTS
    assert isinstance(trained, EvalContext) and torch.equal(z_trained, z_evaluated)
    for name in ("seed", "latent_dim", "num_classes", "codes", "device"):
        assert getattr(trained, name) == getattr(evaluated, name), name
    assert dict(trained.run_config) == dict(evaluated.run_config)  # the checkpoint's copy of the run's
    assert trained.out_dir == tmp_path / "run" and evaluated.out_dir == tmp_path


# ---- end to end: training and src/eval.py on digits with metrics=classifier ----------------------------------------
CHEAP_CLASSIFIER = [
    "metrics=classifier",
    "metrics.extractor.epochs=1",
    "metrics.extractor.max_images=256",
    "metrics.extractor.min_val_accuracy=0",
]


def test_the_evaluators_run_in_training_and_eval_on_the_real_features_of_fid(tmp_path, monkeypatch):
    from wgangp.config_tree import CONF_DIR
    from wgangp.eval import evaluate

    passes = []  # the real images' passes through the extractor
    real_images = features_module.real_images
    monkeypatch.setattr(features_module, "real_images", lambda *a, **k: passes.append(a[1:]) or real_images(*a, **k))
    stats, cache = tmp_path / "stats", tmp_path / "classifiers"
    cfg = compose_config(
        tmp_path / "run",
        [
            *(o for o in TINY if not o.startswith("model.")),
            "data=digits",
            "model=dcgan",
            "model.generator.base_filters=8",
            "model.critic.base_filters=8",
            *CHEAP_CLASSIFIER,
            f"metrics.extractor.cache_dir={cache}",
            f"metrics.stats_dir={stats}",
        ],
    )
    assert {"quality", "precision_recall", "density_coverage"} <= set(cfg.evaluators)  # digits lists all three
    metrics = train(cfg)
    with open(tmp_path / "run/metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for name in ("val/precision", "val/recall", "val/density", "val/coverage", "val/precision_recall_seconds"):
        values = [(int(r["step"]), float(r[name])) for r in rows if r.get(name)]
        assert [k for k, _ in values] == [2, 4], name  # debug=fast: every 2 iterations
        assert all(v >= 0 for _, v in values) and name in metrics
    assert all(0 <= metrics[n] <= 1 for n in ("val/precision", "val/recall", "val/coverage"))
    # one pass over 40 drawn real images (debug=fast's num_real) served FID and KID, one over 40 different ones
    # served precision/recall and density/coverage (k-NN radii shrink between duplicates); each cached once
    assert [p[:3] for p in passes] == [(40, "train", 10), (40, "train", 10)]
    features = {p.name.split("-")[-2]: p for p in (stats / "features").glob("*.pt")}
    assert set(features) == {"n40", "distinct40"}
    (fid_stats,) = stats.glob("*.pt")
    assert features["n40"].name == fid_stats.name
    distinct = torch.load(features["distinct40"], weights_only=True)
    assert len({tuple(row.tolist()) for row in distinct}) == 40  # no image twice
    pool = torch.load(features["n40"], weights_only=True)
    state = torch.load(fid_stats, weights_only=True)
    torch.testing.assert_close(state["real_features_sum"], pool.double().sum(0))  # FID's sums are of these features

    # src/eval.py on the checkpoint: the same evaluators, reported in its JSON
    ckpt = tmp_path / "run/checkpoints/last.ckpt"
    overrides = [
        f"ckpt_path={ckpt}",
        "num_samples=30",
        "num_real=60",
        "batch_size=20",
        "kid_subsets=3",
        "kid_subset_size=20",
        *CHEAP_CLASSIFIER,
        f"metrics.extractor.cache_dir={cache}",
        f"metrics.stats_dir={stats}",
        f"out={tmp_path / 'eval.json'}",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        result = evaluate(compose("eval", overrides))
    assert {"precision", "recall", "density", "coverage", "fid"} <= set(result)
    assert result["precision_recall_num_samples"] == 30 and result["density_coverage_num_real"] == 60
    assert result["precision_recall_num_neighbours"] == 3 and result["density_coverage_num_neighbours"] == 5
    # eval's 60 real images: one more pass for FID/KID and one of 60 different ones for the k-NN measures
    assert [p[:3] for p in passes[2:]] == [(60, "train", 20), (60, "train", 20)]
