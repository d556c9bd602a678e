"""Class-conditional GANs (AC-GAN, projection critic) and InfoGAN: labels through the loop, the loss terms
against hand computations, per-sample penalised conditional critics, sampling, metrics and refusals."""

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from conftest import DIGITS, TINY, compose_config
from wgangp.build import build
from wgangp.checkpoints import load_checkpoint
from wgangp.cli_sample import main as sample_main
from wgangp.errors import UserInputError
from wgangp.evaluation.conditional import ClassConditional
from wgangp.evaluation.context import eval_context
from wgangp.latents import LatentCodes
from wgangp.metrics.conditional import code_purity, frechet_distance, gaussian_fit
from wgangp.nets.conditional import (
    ConditionalDCGANGenerator,
    ConditionalResNetGenerator,
    DCGANACGANCritic,
    DCGANProjectionCritic,
    ResNetProjectionCritic,
)
from wgangp.nets.mlp import MLPCritic, MLPGenerator
from wgangp.objectives.acgan import WGANGPACGAN
from wgangp.objectives.engine import critic_terms, generator_terms
from wgangp.objectives.infogan import InfoGAN
from wgangp.penalties import gradient_penalty
from wgangp.rng import NOISE, step_generator
from wgangp.sampling import sample, traverse_codes
from wgangp.train import train


# ---- labels through the loop -------------------------------------------------------------------------------
def test_conditional_training_resumes_exactly_with_its_label_streams(tmp_path):
    """Real labels come with the (seed, step) data stream and fake labels from the step's noise stream, so
    2 + 2 resumed iterations give the weights and optimizer states of 4 uninterrupted ones."""
    common = [*DIGITS, "model=dcgan_cond", "objective=wgan_gp", "objective.n_critic=2"]
    train(compose_config(tmp_path / "full", [*common, "generator_iters=4"]))
    train(compose_config(tmp_path / "half", [*common, "generator_iters=2"]))
    half = tmp_path / "half/checkpoints/last.ckpt"
    train(compose_config(tmp_path / "resumed", [*common, "generator_iters=4", f"ckpt_path={half}"]))
    full, resumed = (load_checkpoint(tmp_path / r / "checkpoints/last.ckpt") for r in ("full", "resumed"))
    assert full["wgangp"]["generator_iter"] == resumed["wgangp"]["generator_iter"] == 4
    for key, value in full["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    assert full["wgangp"]["run_config"]["num_classes"] == 10  # stored, so sampling rebuilds the generator


RESNET_SMALL = ["model.generator.channels=8", "model.critic.channels=8"]


@pytest.mark.parametrize(
    "model, objective, small",
    [
        ("dcgan_acgan", "wgan_gp_acgan", []),
        ("resnet_cond", "hinge", RESNET_SMALL),
        ("resnet_acgan", "wgan_gp_acgan", RESNET_SMALL),
    ],
)  # dcgan_cond: the resume test above; resnet_acgan on CIFAR files: test_paper_experiments
def test_every_conditional_model_trains_two_iterations_on_labelled_digits(tmp_path, model, objective, small):
    # the ResNets have no base_filters: DIGITS' model sizes give way to `small`
    base = [*(o for o in DIGITS if not o.startswith("model.")), "model.generator.latent_dim=16"] if small else DIGITS
    cfg = compose_config(tmp_path, [*base, f"model={model}", f"objective={objective}", "generator_iters=2", *small])
    train(cfg)
    ckpt = load_checkpoint(tmp_path / "checkpoints/last.ckpt")
    assert ckpt["wgangp"]["generator_iter"] == 2
    assert ckpt["wgangp"]["run_config"]["num_classes"] == 10


def test_fake_labels_are_uniform_draws_of_the_step_stream(tiny_config):
    objective = WGANGPACGAN(**_acgan_parts())
    a = objective.sample_labels(4000, step_generator(0, 7, NOISE))
    torch.testing.assert_close(a, objective.sample_labels(4000, step_generator(0, 7, NOISE)), rtol=0, atol=0)
    assert not torch.equal(a, objective.sample_labels(4000, step_generator(0, 8, NOISE)))
    counts = torch.bincount(a, minlength=3).float() / len(a)
    torch.testing.assert_close(counts, torch.full((3,), 1 / 3), atol=0.03, rtol=0)


@pytest.mark.parametrize(
    "overrides, names",
    [
        (["model=dcgan_cond", "data=image_folder"], "model.generator (ConditionalDCGANGenerator) and model.critic"),
        (["objective=wgan_gp_acgan"], "the objective (WGANGPACGAN)"),  # on the default 8gaussians
    ],
)
def test_unlabelled_data_is_refused_before_anything_is_read(tmp_path, overrides, names):
    tiny = [o for o in TINY if not o.startswith("model.")] if "model=dcgan_cond" in overrides else TINY
    cfg = compose_config(tmp_path / "run", [*tiny, *overrides])
    with pytest.raises(UserInputError) as err:
        build(cfg)
    message = str(err.value)
    assert names in message and "need class labels" in message and "data=mnist" in message
    assert "\n" not in message  # one paragraph


# ---- the generators' class paths ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "generator_class, kwargs",
    [(ConditionalDCGANGenerator, {"base_filters": 4}), (ConditionalResNetGenerator, {"channels": 8})],
)
def test_label_input_is_the_input_linear_over_z_and_a_one_hot_class(generator_class, kwargs):
    """label_input=True: the input Linear sees cat(z, one_hot(y)) (cGAN), so a freshly initialised generator already
    draws each class differently; conditional batch norm alone (False, as released) starts with gamma[y] = 1 and
    beta[y] = 0 for every y, so the class has no effect until Adam has moved them (by about lr per step)."""
    torch.manual_seed(0)
    z, y, other = torch.randn(4, 16), torch.tensor([0, 1, 2, 0]), torch.tensor([2, 0, 1, 1])
    plain = generator_class((1, 28, 28), num_classes=3, latent_dim=16, **kwargs).eval()
    assert plain.class_input is None
    torch.testing.assert_close(plain(z, y), plain(z, other))  # the class is ignored at initialisation

    g = generator_class((1, 28, 28), num_classes=3, latent_dim=16, label_input=True, **kwargs).eval()
    assert not torch.allclose(g(z, y), g(z, other), atol=1e-4)
    linear, reshape = (g.net if generator_class is ConditionalDCGANGenerator else g.input)[:2]
    seen = []  # what the net after the input Linear receives: the reshape's input, (N, 16 * channels)
    hook = reshape.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    with torch.no_grad():
        g(z, y)
    hook.remove()
    weight = torch.cat([linear.weight, g.class_input.weight.T], dim=1)  # (out, latent_dim + num_classes)
    expected = torch.cat([z, F.one_hot(y, 3).float()], dim=1) @ weight.T + linear.bias
    torch.testing.assert_close(seen[0], expected.detach())
    std = g.class_input.weight.std().item()
    assert (0.01 < std < 0.03) if generator_class is ConditionalDCGANGenerator else (std < 16**-0.5)  # as the Linear


# ---- per-sample penalised conditional critics ----------------------------------------------------------------
@pytest.mark.parametrize(
    "critic_class, kwargs", [(DCGANProjectionCritic, {"base_filters": 4}), (ResNetProjectionCritic, {"channels": 8})]
)
def test_a_penalised_projection_critic_takes_each_samples_input_gradient_at_its_own_label(critic_class, kwargs):
    torch.manual_seed(0)
    critic = critic_class((3, 32, 32), num_classes=3, uses_penalty=True, **kwargs).train()
    with torch.no_grad():
        critic.projection.embed.weight.normal_()  # a class term large enough to matter
    x, labels = torch.randn(3, 3, 32, 32), torch.tensor([1, 0, 2])

    def first_gradient(batch, batch_labels):
        batch = batch.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(batch, batch_labels).sum(), batch)
        return grad[0]

    g = first_gradient(x, labels)
    others = torch.cat([x[:1], torch.randn(2, 3, 32, 32)])  # sample 0 and its label kept, the rest new
    torch.testing.assert_close(g, first_gradient(others, torch.tensor([1, 2, 2])))
    assert not torch.allclose(g, first_gradient(x, torch.tensor([0, 0, 2])))  # the label is part of D(., y)


# ---- the loss terms against hand computations ----------------------------------------------------------------
class LinearACGANCritic(nn.Module):
    """D(x) = w . x and class logits W x: the closed forms the AC-GAN terms are checked against."""

    needs_labels, takes_labels = True, False

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.5, -1.0]))
        self.cls = nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))

    def forward(self, x):
        return x @ self.w

    def scores_and_logits(self, x):
        return x @ self.w, x @ self.cls.T


class LabelShiftGenerator(nn.Module):
    """G(z, y) = z + y: a conditional generator whose fakes are known."""

    needs_labels, takes_labels, latent_dim, data_shape, num_classes = True, True, 2, (2,), 3

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, z, labels):
        return self.scale * z + labels.unsqueeze(1).float()


def _acgan_parts():
    optimizer = lambda params, **kw: torch.optim.SGD(params, lr=0.1, **kw)  # noqa: E731
    return {"generator": LabelShiftGenerator(), "critic": LinearACGANCritic(), "optimizer": optimizer}


def test_acgan_terms_match_the_released_formulas_on_tiny_tensors():
    obj = WGANGPACGAN(**_acgan_parts(), gp_weight=10.0, acgan_scale=1.0, acgan_scale_g=0.1)
    real, fake = torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([[0.5, 0.5], [2.0, 0.0]])
    labels = torch.tensor([0, 2])
    terms = critic_terms(obj, real, fake, step_generator(0, 0, NOISE), labels)
    w = torch.tensor([0.5, -1.0])
    wgan = (fake @ w).mean() - (real @ w).mean()  # -1.25 + 0.25 ... by hand: D(real) = (-1.5, 1), D(fake) = (-0.25, 1)
    torch.testing.assert_close(wgan, torch.tensor(0.375 - (-0.25)))
    gp = (w.norm() - 1) ** 2  # a linear critic's gradient norm is ||w|| everywhere
    logits = torch.tensor([[1.0, 2.0, -3.0], [0.0, -1.0, 1.0]])  # W real
    ce = -(torch.log_softmax(logits, 1)[[0, 1], [0, 2]]).mean()
    torch.testing.assert_close(terms["acgan_critic_ce"], ce)
    torch.testing.assert_close(terms["critic_loss"], wgan + 10 * gp + ce)
    torch.testing.assert_close(terms["acgan_real_accuracy"], torch.tensor(0.5))  # argmax (1, 2) vs (0, 2)

    z, y = torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 0])
    g = generator_terms(obj, None, z, None, y)
    x = z + y.unsqueeze(1)  # (1, 2), (1, 0)
    g_ce = F.cross_entropy(x @ obj.critic.cls.T, y)
    torch.testing.assert_close(g["generator_loss"], -(x @ w).mean() + 0.1 * g_ce)
    torch.testing.assert_close(g["acgan_generator_ce"], g_ce)


@pytest.mark.parametrize("update", ["simultaneous", "extragradient", "optimistic"])
def test_a_conditional_objective_refuses_the_joint_update_rules_naming_alternating(update):
    with pytest.raises(ValueError, match="objective.update=alternating"):
        WGANGPACGAN(**_acgan_parts(), update=update)


def test_acgan_penalty_sees_the_wgan_score_only():
    obj = WGANGPACGAN(**_acgan_parts())
    real, fake, labels = torch.randn(4, 2), torch.randn(4, 2), torch.tensor([0, 1, 2, 0])
    terms = critic_terms(obj, real, fake, step_generator(0, 0, NOISE), labels)
    expected = gradient_penalty(obj.critic, real, fake, eps=obj.sample_uniform(4, step_generator(0, 0, NOISE)))
    torch.testing.assert_close(terms["gradient_penalty"], expected)


def _augmented_acgan(scale_g: float = 0.1) -> WGANGPACGAN:
    """AC-GAN on small 28x28 conditional DCGAN nets with DiffAugment: what the critic sees is not the images."""
    torch.manual_seed(0)
    return WGANGPACGAN(
        generator=ConditionalDCGANGenerator((1, 28, 28), num_classes=3, latent_dim=8, base_filters=4),
        critic=DCGANACGANCritic((1, 28, 28), num_classes=3, base_filters=4, uses_penalty=True),
        optimizer=lambda params, **kw: torch.optim.Adam(params, **kw),
        acgan_scale_g=scale_g,
        augment="diffaugment",
    )


def test_acgan_heads_read_one_pass_over_what_the_critic_sees_in_the_critic_step():
    """The class head's cross-entropy is of the augmented reals (the images the score saw), from the same trunk
    pass as the W estimate: one pass over cat(real, fake), as the released Discriminator(real_and_fake_data)."""
    obj = _augmented_acgan()
    real, fake, labels = torch.rand(4, 1, 28, 28) * 2 - 1, torch.rand(4, 1, 28, 28) * 2 - 1, torch.tensor([0, 1, 2, 0])
    seen = []  # samples through the critic's first conv: cat(real, fake) once, then the interpolates
    hook = obj.critic.net[0].register_forward_hook(lambda mod, args, out: seen.append(args[0].size(0)))
    obj.view.start_iteration(5, real.device)
    terms = critic_terms(obj, real, fake, step_generator(0, 5, NOISE), labels)
    hook.remove()
    assert seen == [8, 4]
    obj.view.start_iteration(5, real.device)  # the same draws again
    with torch.no_grad():
        scores, logits = obj.critic.scores_and_logits(obj.view(torch.cat([real, fake])))
    torch.testing.assert_close(terms["acgan_critic_ce"], F.cross_entropy(logits[:4], labels))
    torch.testing.assert_close(terms["w_estimate"], scores[:4].mean() - scores[4:].mean())
    with torch.no_grad():  # and not those of the images themselves
        _, plain = obj.critic.scores_and_logits(real)
    assert not torch.allclose(terms["acgan_critic_ce"], F.cross_entropy(plain, labels))


def test_acgan_generator_terms_score_and_classify_the_augmented_fakes():
    """With objective.augment the generator's score and class loss are of its fakes as the critic sees them, the
    critic's own training input; scoring the bare fakes would train G against a critic that never saw such images."""
    obj = _augmented_acgan(scale_g=1.0)
    z, y = torch.randn(6, 8), torch.tensor([0, 1, 2, 2, 1, 0])
    obj.view.start_iteration(3, z.device)
    terms = generator_terms(obj, None, z, None, y)
    obj.view.start_iteration(3, z.device)
    with torch.no_grad():
        scores, logits = obj.critic.scores_and_logits(obj.view(obj.generate(z, y)))
    ce = F.cross_entropy(logits, y)
    torch.testing.assert_close(terms["acgan_generator_ce"], ce)
    torch.testing.assert_close(terms["generator_loss"], -scores.mean() + ce)


def test_info_loss_is_the_cross_entropy_plus_the_unit_gaussian_nll_of_the_codes():
    codes = LatentCodes(latent_dim=7, categorical=(3,), continuous=2)
    noise = torch.zeros(2, 2)
    z = codes.join(noise, [torch.tensor([2, 0])], torch.tensor([[0.5, -0.5], [1.0, 0.0]]))
    assert z.tolist()[0] == [0, 0, 0, 0, 1, 0.5, -0.5]
    q = torch.tensor([[0.0, 1.0, 2.0, 0.5, 0.5], [3.0, 0.0, 0.0, 0.0, 0.0]])  # logits (3), means (2)
    loss, accuracy = codes.info_loss(q, z)
    ce = -(torch.log_softmax(q[:, :3], 1)[[0, 1], [2, 0]]).mean()
    nll = 0.5 * ((q[:, 3:] - z[:, 5:]) ** 2).sum(1).mean()  # (0 + 1) + (0 + 1 ... by hand: (0, 1) and (1, 0)
    torch.testing.assert_close(nll, torch.tensor(0.5 * (1.0 + 1.0) / 2))
    torch.testing.assert_close(loss, ce + nll)
    torch.testing.assert_close(accuracy, torch.tensor(1.0))  # argmax (2, 0) is right for both


def test_infogan_generator_loss_adds_the_weighted_info_term_and_its_latent_carries_one_hot_codes():
    torch.manual_seed(0)
    obj = InfoGAN(
        generator=MLPGenerator((2,), latent_dim=16, width=8, tanh=False),
        critic=MLPCritic((2,), width=8),
        optimizer=lambda params, **kw: torch.optim.Adam(params, **kw),
        categorical_codes=[4],
        continuous_codes=1,
        info_weight=0.5,
    )
    z = obj.sample_latent(64, step_generator(0, 0, NOISE))
    one_hot = z[:, 11:15]
    assert torch.equal(one_hot.sum(1), torch.ones(64)) and set(one_hot.unique().tolist()) == {0.0, 1.0}
    assert z[:, 15].abs().max() <= 1  # U(-1, 1)
    terms = generator_terms(obj, None, z)
    h = obj.critic.features(obj.generator(z))
    info, _ = obj.latent_codes.info_loss(obj.q_head(h), z)
    gan = F.softplus(-obj.critic.head(h)).mean()  # non-saturating -log sigmoid(D(G(z)))
    torch.testing.assert_close(terms["generator_loss"], gan + 0.5 * info)
    opt_g, _ = obj.configure_optimizers()
    assert {id(p) for p in obj.q_head.parameters()} <= {id(p) for g in opt_g.param_groups for p in g["params"]}


# ---- metrics -------------------------------------------------------------------------------------------------
def test_code_purity_takes_the_best_one_to_one_matching():
    classes = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])
    torch.testing.assert_close(code_purity((classes + 1) % 3, classes, 3, 3), 1.0)  # a permutation is pure
    codes = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])  # code 0 holds classes 0 and 1, codes 1 and 2 class 2
    assert code_purity(codes, classes, 3, 3) == pytest.approx(4 / 8)  # 0 -> 0 (2), 1 -> 2 (2), 2 -> 1 (0)


def test_frechet_distance_of_two_fits_is_their_closed_form():
    x = torch.randn(4000, 3, generator=torch.Generator().manual_seed(0))
    a = gaussian_fit(x)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = gaussian_fit(x + torch.tensor([1.0, 2.0, 0.0]))
    assert frechet_distance(a, shifted) == pytest.approx(5.0, rel=1e-4)  # equal covariances: ||d||^2


class PixelClassifier(nn.Module):
    """Features: the pixels; logits: minus the distance of the mean pixel to each class's level."""

    def forward(self, images):
        m = images.flatten(1).mean(1, keepdim=True)
        return {"pool": images.flatten(1), "logits": -(m - torch.tensor([-0.5, 0.0, 0.5])).abs()}


class LevelImages(nn.Module):
    """G(z, y): a (1, 2, 2) image at level y/2 - 0.5 plus 0.05 z; `swap` draws class (y + 1) % 3 instead."""

    takes_labels, num_classes, latent_dim, data_shape = True, 3, 4, (1, 2, 2)

    def __init__(self, swap: bool = False) -> None:
        super().__init__()
        self.anchor, self.swap = nn.Parameter(torch.zeros(())), swap

    def forward(self, z, labels):
        y = (labels + 1) % 3 if self.swap else labels
        return (y.float() / 2 - 0.5).view(-1, 1, 1, 1) + 0.05 * z.view(-1, 1, 2, 2) + self.anchor


class LevelData:
    """Real data: LevelImages' distribution with its labels."""

    def eval_batch(self, n, index=0, split="train"):
        gen = torch.Generator().manual_seed(index)
        labels = torch.randint(3, (n,), generator=gen)
        return {"real": LevelImages()(torch.randn(n, 4, generator=gen), labels).detach(), "label": labels}


@pytest.mark.parametrize("swap, accuracy", [(False, 1.0), (True, 0.0)])
def test_conditional_accuracy_and_per_class_fid(swap, accuracy):
    evaluator = ClassConditional(PixelClassifier, num_per_class=300, num_real=900, batch_size=100)
    generator = LevelImages(swap)
    evaluator.setup(LevelData(), eval_context(generator, seed=0))
    with torch.no_grad():
        metrics = evaluator.evaluate(generator, None)
    assert metrics["val/cond_accuracy"] == accuracy
    assert metrics["val/fid_all"] < 0.05  # all classes together: the same distribution either way
    assert (metrics["val/fid_class_mean"] < 0.05) != swap  # per class: a swapped class is 0.25 away


# ---- sampling --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def conditional_checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("cond")
    train(compose_config(run, [*DIGITS, "model=dcgan_cond", "objective=dcgan", "generator_iters=2"]))
    return run / "checkpoints/last.ckpt"


def test_class_conditional_sampling_shapes_and_determinism(conditional_checkpoint):
    labels = torch.tensor([3, 3, 5, 0])
    x = sample(conditional_checkpoint, 4, seed=0, labels=labels)
    assert x.shape == (4, 1, 28, 28) and x.abs().max() <= 1
    assert torch.equal(x, sample(conditional_checkpoint, 4, seed=0, labels=labels))
    assert not torch.equal(x, sample(conditional_checkpoint, 4, seed=1, labels=labels))
    other = sample(conditional_checkpoint, 4, seed=0, labels=torch.tensor([3, 3, 1, 0]))  # same z, one class changed
    assert torch.equal(x[[0, 1, 3]], other[[0, 1, 3]]) and not torch.equal(x[2], other[2])
    assert sample(conditional_checkpoint, 5, seed=0).shape == (5, 1, 28, 28)  # uniform labels when none given
    with pytest.raises(UserInputError, match="one class in 0..9"):
        sample(conditional_checkpoint, 2, labels=torch.tensor([0, 10]))


def test_sample_py_draws_a_grid_with_one_row_per_class(conditional_checkpoint, tmp_path):
    # src/sample.py's body in-process (the script only calls it)
    assert sample_main([f"ckpt_path={conditional_checkpoint}", "per_class=3", f"out={tmp_path / 'g.png'}"]) == 0
    width, height = Image.open(tmp_path / "g.png").size
    assert (width, height) == (2 + 3 * 30, 2 + 10 * 30)  # torchvision's grid: 28 px + 2 px padding per cell


def test_infogan_traversal_has_one_row_per_categorical_value(tmp_path):
    run = tmp_path / "info"
    train(
        compose_config(
            run, [*DIGITS, "model=dcgan", "objective=infogan", "generator_iters=2", "objective.continuous_codes=1"]
        )
    )
    grid = traverse_codes(run / "checkpoints/last.ckpt", continuous=0, columns=4)
    assert grid.shape == (10 * 4, 1, 28, 28)
    assert torch.equal(grid, traverse_codes(run / "checkpoints/last.ckpt", continuous=0, columns=4))
    with pytest.raises(UserInputError, match="1 continuous codes"):
        traverse_codes(run / "checkpoints/last.ckpt", continuous=1)
