"""Every objective (each file of conf/objective/): trains through Hydra, steps the players in the right
ratio, and keeps its own invariant (clipping bound, real-only R1)."""

import csv

import pytest
import torch
from hydra.utils import get_class, instantiate

from conftest import TINY, compose_config, conf_options, objective_class
from wgangp.nets.conditional import ConditionalDCGANGenerator, DCGANACGANCritic, needs_labels
from wgangp.nets.mlp import MLPCritic, MLPGenerator
from wgangp.objectives.engine import critic_terms
from wgangp.objectives.wgan_clip import WGANClip
from wgangp.objectives.wgan_gp import WGANGP
from wgangp.rng import step_generator
from wgangp.train import train

OBJECTIVES = conf_options("objective")
PENALTY_TERM = {
    "wgan_gp": "gradient_penalty",
    "wgan_gp_one_sided": "gradient_penalty",
    "gan_gp": "gradient_penalty",
    "r1": "r1_penalty",
    "wgan_gp_acgan": "gradient_penalty",
    "infogan_wgan_gp": "gradient_penalty",
}
# The papers' n_critic: 5 for the WGANs (Alg. 1, WGAN Alg. 1), 1 for the standard-GAN family (DCGAN). A new
# objective needs no entry: the loop's ratio is tested with whatever its YAML sets.
PAPER_N_CRITIC = {
    "wgan_gp": 5,
    "wgan_gp_one_sided": 5,
    "wgan_clip": 5,
    "wgan": 5,
    "wgan_gp_acgan": 5,
    "infogan_wgan_gp": 5,
    "dcgan": 1,
    "lsgan": 1,
    "gan_gp": 1,
    "r1": 1,
    "hinge": 1,
    "infogan": 1,
}
# Objectives whose class needs labels (AC-GAN) train on labelled images with model=dcgan_acgan, whose nets
# serve every objective (a conditional G, a critic with a score and a class head); objectives that write
# codes into z (InfoGAN) get a latent wide enough for them.
LABELLED = [
    "data=digits",
    "data.image_size=28",
    "model=dcgan_acgan",
    "model.generator.base_filters=4",
    "model.critic.base_filters=4",
    "evaluators.quality=null",
]
WIDE_LATENT = ["model.generator.latent_dim=16"]


def setting(name):
    """The overrides objective=name trains with in these tests (see LABELLED, WIDE_LATENT)."""
    cls = objective_class(name)
    return LABELLED if needs_labels(cls) else WIDE_LATENT if getattr(cls, "uses_latent_codes", False) else []


def build_objective(cfg):
    """The objective on tiny nets: toy MLPs, or 28x28 conditional DCGANs for objectives that need labels."""
    torch.manual_seed(0)
    if needs_labels(get_class(cfg.objective._target_)):
        generator = ConditionalDCGANGenerator((1, 28, 28), num_classes=3, latent_dim=4, base_filters=2)
        critic = DCGANACGANCritic((1, 28, 28), num_classes=3, base_filters=2, norm="layer")
        return instantiate(cfg.objective, generator=generator, critic=critic)
    latent_dim = 16 if getattr(get_class(cfg.objective._target_), "uses_latent_codes", False) else 2
    generator = MLPGenerator((2,), latent_dim=latent_dim, width=16, tanh=False)
    return instantiate(cfg.objective, generator=generator, critic=MLPCritic((2,), width=16))


@pytest.mark.parametrize("name", OBJECTIVES)
def test_every_objective_trains_on_the_toy_problem_through_hydra(tiny_config, tmp_path, name):
    overrides = [f"objective={name}", "generator_iters=3", *setting(name)]
    if setting(name) is LABELLED:  # TINY's model.* shrink the toy MLPs
        cfg = compose_config(tmp_path / "run", [*(o for o in TINY if not o.startswith("model.")), *overrides])
    else:
        cfg = tiny_config(*overrides)
    metrics = train(cfg)
    with open(tmp_path / "run/metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/critic_loss")]
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    for key in ["train/critic_loss", "train/generator_loss"] + (
        [f"train/{PENALTY_TERM[name]}"] if name in PENALTY_TERM else []
    ):
        assert all(torch.isfinite(torch.tensor(float(r[key]))) for r in rows), key
    wasserstein = issubclass(objective_class(name), (WGANGP, WGANClip))  # a critic whose scores estimate W1
    assert ("train/w_estimate" in rows[0] and rows[0]["train/w_estimate"] != "") == wasserstein
    if "val/w1" in metrics or not setting(name):  # the toy problem's W1; labelled images have none
        assert 0 < metrics["val/w1"] < 10


@pytest.mark.parametrize("name", OBJECTIVES)
def test_generator_steps_once_per_n_critic_discriminator_steps(tiny_config, name):
    cfg = tiny_config(f"objective={name}")
    obj = build_objective(cfg)
    if name in PAPER_N_CRITIC:  # the YAML keeps the paper's value
        assert cfg.objective.n_critic == PAPER_N_CRITIC[name]
    assert obj.n_critic == cfg.objective.n_critic
    opt_g, opt_d = obj.configure_optimizers()
    events = []
    opt_d.register_step_post_hook(lambda *_: events.append("d"))
    opt_g.register_step_post_hook(lambda *_: events.append("g"))
    shape = obj.generator.data_shape
    for step in range(2):
        labels = torch.randint(3, (obj.n_critic, 8)) if obj.uses_labels else None
        obj.train_iteration(torch.randn(obj.n_critic, 8, *shape), opt_g, opt_d, step_generator(0, step, 1), labels)
    assert events == (["d"] * obj.n_critic + ["g"]) * 2


def test_paper_optimiser_defaults(tiny_config):
    clip = tiny_config("objective=wgan_clip").objective
    assert clip.optimizer._target_ == "torch.optim.RMSprop" and clip.optimizer.lr == 5e-5 and clip.clip_value == 0.01
    dcgan = tiny_config("objective=dcgan").objective
    assert dcgan.optimizer.lr == 2e-4 and list(dcgan.optimizer.betas) == [0.5, 0.999] and not dcgan.saturating
    lsgan = tiny_config("objective=lsgan").objective
    assert lsgan.optimizer._target_ == "torch.optim.RMSprop" and lsgan.optimizer.lr == 1e-4
    assert tiny_config("objective=wgan_gp_one_sided").objective.one_sided


def test_clipping_keeps_every_critic_weight_inside_the_bound(tiny_config):
    obj = build_objective(tiny_config("objective=wgan_clip", "objective.optimizer.lr=0.5"))
    opt_g, opt_d = obj.configure_optimizers()
    assert max(p.abs().max() for p in obj.critic.parameters()) > 0.01  # default init exceeds c
    obj.train_iteration(torch.randn(5, 8, 2), opt_g, opt_d, step_generator(0, 0, 1))
    params = torch.cat([p.flatten() for p in obj.critic.parameters()])
    assert params.abs().max() <= 0.01
    assert (params.abs() == 0.01).float().mean() > 0.5  # a large step pushes weights onto +-c


def test_r1_sees_real_data_only(tiny_config):
    obj = build_objective(tiny_config("objective=r1"))
    real, rng = torch.randn(8, 2), torch.Generator()
    a = critic_terms(obj, real, torch.randn(8, 2), rng)["r1_penalty"]
    b = critic_terms(obj, real, 100 * torch.randn(8, 2), rng)["r1_penalty"]
    c = critic_terms(obj, real + 1, torch.randn(8, 2), rng)["r1_penalty"]
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_critic_weight_decay_reaches_the_critic_optimizer_only(tiny_config):
    obj = build_objective(tiny_config("objective=dcgan", "objective.critic_weight_decay=1e-3"))
    opt_g, opt_d = obj.configure_optimizers()
    assert opt_d.param_groups[0]["weight_decay"] == 1e-3 and opt_g.param_groups[0]["weight_decay"] == 0


@pytest.mark.parametrize("name", OBJECTIVES)
def test_uses_gradient_penalty_is_true_exactly_where_the_critic_loss_differentiates_d_by_its_input(tiny_config, name):
    """wgangp.build swaps a critic's batch norm for layer norm by this attribute (Sec. 4): it must say what the
    loss does, which is seen from the critic's inputs: a penalty feeds it an input that requires a gradient."""
    obj = build_objective(tiny_config(f"objective={name}"))
    takes_grad = []
    obj.critic.register_forward_pre_hook(lambda module, args: takes_grad.append(args[0].requires_grad))
    m, shape = 4, obj.generator.data_shape
    labels = torch.tensor([0, 1, 2, 0]) if obj.uses_labels else None
    fake = obj.generate(obj.sample_latent(m, step_generator(0, 0, 1)), labels).detach()
    critic_terms(obj, torch.randn(m, *shape), fake, step_generator(0, 0, 1), labels)
    assert any(takes_grad) == type(obj).uses_gradient_penalty


# ---- the objective schema (wgangp.objectives.schema) --------------------------------------------------------------
def test_the_schema_is_the_loop_constructor_written_once():
    """Every argument GANObjective takes from the config is a schema field, with the constructor's default, so a
    Python user and a YAML get the same loop."""
    import inspect

    from wgangp.objectives.base import GANObjective
    from wgangp.objectives.schema import LOOP_FIELDS, loop_defaults

    params = inspect.signature(GANObjective.__init__).parameters
    from_config = {n for n in params if n not in ("self", "generator", "critic", "seed")}
    assert from_config == set(LOOP_FIELDS) - {"_target_"}
    defaults = loop_defaults()
    assert defaults, "the schema has no defaults"
    for name, value in defaults.items():
        assert params[name].default == value, name


@pytest.mark.parametrize("name", OBJECTIVES)
def test_every_objective_yaml_sets_only_fields_its_class_takes_and_inherits_the_loop(tiny_config, name):
    from wgangp.objectives.schema import LOOP_FIELDS, objective_fields, unknown_field_problems

    cfg = tiny_config(f"objective={name}")
    cls = get_class(cfg.objective._target_)
    assert unknown_field_problems(cfg.objective, cls) == []
    assert set(LOOP_FIELDS) <= set(cfg.objective)  # from /schema/objective, not copied into the YAML
    own = set(objective_fields(cls)) - set(LOOP_FIELDS)
    assert own <= set(cfg.objective), own - set(cfg.objective)


def test_a_field_no_constructor_takes_and_a_wrong_type_are_named_together(tiny_config):
    from wgangp.config_checks import config_problems

    cfg = tiny_config("objective=wgan_gp", "+objective.gp_wieght=1", "objective.n_critic=abc", "objective.one_sided=2")
    problems = " ".join(config_problems(cfg, overrides=[]))
    assert "objective.gp_wieght is not a field of WGANGP" in problems and "gp_weight" in problems
    assert "objective.n_critic='abc' is invalid: it must be an integer >= 1" in problems
    assert "objective.one_sided=2 is invalid: it must be true or false" in problems


def test_an_objective_mixin_s_fields_are_typed_from_its_constructor(tiny_config):
    from wgangp.config_checks import config_problems

    cfg = tiny_config("objective=infogan", "objective.q_width=0", "objective.categorical_codes=[1]")
    problems = " ".join(config_problems(cfg, overrides=[]))
    assert "objective.q_width=0 is invalid" in problems and "objective.categorical_codes=[1] is invalid" in problems


def test_a_user_objectives_list_or_union_field_gets_no_number_rule(tiny_config):
    from typing import Annotated

    from wgangp.objectives.schema import _rule_of
    from wgangp.rules import POSITIVE

    assert _rule_of(list[int]) is None and _rule_of(tuple[float, float]) is None and _rule_of(int | str) is None
    assert _rule_of(int | None).nullable and _rule_of(bool).kind == "bool" and _rule_of(float).kind == "number"
    assert _rule_of(Annotated[float, POSITIVE]) is POSITIVE


def test_the_adaptive_penalty_weight_and_a_lazy_penalty_are_refused_together(tiny_config):
    from wgangp.build import build

    cfg = tiny_config("objective.gp_weight_schedule=adaptive", "objective.penalty_every=2")
    with pytest.raises(Exception, match="use one of them"):  # Hydra's InstantiationException around the ValueError
        build(cfg)
