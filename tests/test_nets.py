"""The image nets: shapes at every resolution, per-sample critics, App. F's layer table, Table 1, training."""

import copy
import csv
import logging
from collections import Counter

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf, open_dict
from torch import Tensor, nn

from conftest import TINY, compose_config, conf_options
from wgangp.build import build
from wgangp.data.base import GANDataModule
from wgangp.nets.conditional import needs_labels, takes_labels
from wgangp.nets.dcgan import DCGANCritic, DCGANGenerator
from wgangp.nets.layers import Gated, penalty_safe_norm
from wgangp.nets.random_arch import (
    TABLE_1,
    RandomArchCritic,
    RandomArchGenerator,
    critic_kwargs,
    generator_kwargs,
    sample_architecture,
)
from wgangp.nets.resnet import (
    BottleneckBlock,
    ResBlock,
    ResNet101Critic,
    ResNet101Generator,
    ResNetCritic,
    ResNetGenerator,
)
from wgangp.nets.units import AvgPool2d, LeakyReLU, ReLU, with_torch_units
from wgangp.penalties import gradient_penalty
from wgangp.rng import NOISE, step_generator
from wgangp.train import train

SHAPES = {28: (1, 28, 28), 32: (3, 32, 32), 64: (3, 64, 64), 128: (3, 128, 128)}
# Fields that set a net's width, and the small values CPU tests use for them; arch_seed=45 is a Table 1
# architecture with base filters 32 and 32, depths 4 and 8.
SMALL_FIELDS = {"width": 16, "base_filters": 4, "channels": 8, "dim": 4}


NUM_CLASSES = 3  # class-conditional nets (wgangp.nets.conditional) are built for this many classes here


def class_kwargs(node):
    """num_classes for a net whose class needs labels, as wgangp.build passes the data's."""
    return {"num_classes": NUM_CLASSES} if needs_labels(get_class(node._target_)) else {}


def run(net, x, labels=None):
    """net(x), or net(x, labels) for a net that takes labels (labels: 0, 1, 2, 0, ... when not given)."""
    if not takes_labels(net):
        return net(x)
    return net(x, torch.arange(x.size(0)) % NUM_CLASSES if labels is None else labels)


def small_overrides(name):
    """Overrides that make `model=name` small enough for CPU tests, found from its own config."""
    model = compose_config("unused", [f"model={name}"]).model
    overrides = [
        f"model.{part}.{field}={value}"
        for part in ("generator", "critic")
        for field, value in SMALL_FIELDS.items()
        if field in model[part]
    ]
    return overrides + (["arch_seed=45"] if name == "random_arch" else [])


def supported_sizes(name, overrides):
    """The image sizes of SHAPES at which both nets of `model=name` build (a clear ValueError elsewhere)."""
    model = compose_config("unused", [f"model={name}", *overrides]).model
    sizes = []
    for size, shape in SHAPES.items():
        try:
            instantiate(model.generator, data_shape=shape, **class_kwargs(model.generator))
            instantiate(model.critic, data_shape=shape, **class_kwargs(model.critic))
        except InstantiationException as e:
            if not isinstance(e.__cause__, ValueError):
                raise
            continue
        sizes.append(size)
    return tuple(sizes)


# Every `model=` option that builds at some image size (toy_mlp and charcnn are tested on their own data),
# with the overrides that make it small and its image sizes.
MODELS = {}
for _name in conf_options("model"):
    _sizes = supported_sizes(_name, small_overrides(_name))
    if _sizes:
        MODELS[_name] = (small_overrides(_name), _sizes)
MAIN_SIZE = {name: 64 if name == "resnet101" else 32 for name in MODELS}
_MODEL_CONFIGS = {}


def model_config(name):
    """The `model` node of `python src/train.py model=name <small overrides>`, composed once per name."""
    if name not in _MODEL_CONFIGS:
        overrides = [f"model={name}", "model.generator.latent_dim=8", *MODELS[name][0]]
        _MODEL_CONFIGS[name] = compose_config("unused", overrides).model
    return _MODEL_CONFIGS[name]


def make(name, part, shape, **kwargs):
    torch.manual_seed(0)
    node = model_config(name)[part]
    return instantiate(node, data_shape=shape, **class_kwargs(node), **kwargs)


def weight_layers(module):
    return [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)]


# ---- shapes --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
@torch.no_grad()
def test_every_model_maps_latents_to_images_and_images_to_scores_at_every_supported_size(name):
    for size in MODELS[name][1]:
        shape = SHAPES[size]
        generator, critic = make(name, "generator", shape), make(name, "critic", shape)
        assert generator.data_shape == shape and critic.data_shape == shape and generator.latent_dim == 8
        x = run(generator, torch.randn(2, 8))
        assert x.shape == (2, *shape), size
        assert x.abs().max() <= 1  # tanh: the data range [-1, 1]
        assert run(critic, x).shape == (2,), size


@pytest.mark.parametrize(
    "nets, supported",
    [
        ((DCGANGenerator, DCGANCritic), (28, 32, 64, 128)),
        ((ResNetGenerator, ResNetCritic), (28, 32, 64, 128)),
        ((ResNet101Generator, ResNet101Critic), (64,)),
    ],
)
def test_unsupported_sizes_are_a_clear_error_naming_the_supported_ones(nets, supported):
    message = ", ".join(f"{s}x{s}" for s in supported)
    for shape in [(3, 48, 48), (3, 32, 64), (2,), *[SHAPES[s] for s in SHAPES if s not in supported]]:
        for net in nets:
            with pytest.raises(ValueError, match=message):
                net(shape)


def test_28x28_dcgan_crops_8x8_to_7x7_and_strides_down_28_14_7_4():
    generator = DCGANGenerator((1, 28, 28), latent_dim=8, base_filters=4)
    critic = DCGANCritic((1, 28, 28), base_filters=4, norm="none")
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1])) for m in weight_layers(generator)]
    hooks += [m.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1])) for m in weight_layers(critic)[:-1]]
    critic(generator(torch.randn(2, 8)))
    assert sizes == [4 * 4 * 16, 8, 14, 28] + [14, 7, 4]  # Linear (4b*4*4), deconvs (8 then cropped), convs


def test_28x28_resnet_crops_its_first_block_to_7x7_and_pools_down_to_7x7():
    generator = ResNetGenerator((1, 28, 28), latent_dim=8, channels=4)
    critic = ResNetCritic((1, 28, 28), channels=4)
    sizes = []
    for net in (generator, critic):
        for block in net.blocks:
            block.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
    out = generator(torch.randn(2, 8))
    assert out.shape == (2, 1, 28, 28) and critic(out).shape == (2,)
    assert sizes == [8, 7, 14, 28] + [14, 7, 7, 7]  # G: up, crop, up, up; D: down, down, two plain blocks


# ---- the critic normalisation rule (Sec. 4) --------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
@torch.no_grad()
def test_a_penalised_critic_scores_each_sample_independently_of_its_batch_in_train_mode(name):
    shape = SHAPES[MAIN_SIZE[name]]
    critic = make(name, "critic", shape, uses_penalty=True).train()
    assert getattr(critic, "norm", "none") != "batch"
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    x = torch.randn(3, *shape)
    other = torch.cat([x[:1], torch.randn(2, *shape)])
    # a conditional critic: sample 0 keeps its label, the others change theirs
    labels, other_labels = torch.tensor([1, 0, 2]), torch.tensor([1, 2, 0])
    torch.testing.assert_close(run(critic, x, labels)[0], run(critic, other, other_labels)[0])


def test_the_independence_check_detects_batch_norm():
    critic = DCGANCritic((3, 32, 32), base_filters=4, norm="batch").train()  # no penalty: batch norm stays
    x = torch.randn(4, 3, 32, 32)
    assert not torch.allclose(critic(x)[0], critic(torch.cat([x[:1], torch.randn(3, 3, 32, 32)]))[0])


def test_batch_norm_becomes_layer_norm_under_a_penalty_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="wgangp"):
        critic = DCGANCritic((3, 32, 32), base_filters=4, norm="batch", uses_penalty=True)
    assert critic.norm == "layer" and [r.levelname for r in caplog.records] == ["WARNING"]
    assert "layer norm" in caplog.records[0].getMessage()
    assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in critic.modules()) == 2
    assert penalty_safe_norm("batch", False) == "batch" and penalty_safe_norm("none", True) == "none"
    with pytest.raises(ValueError, match="instance"):
        penalty_safe_norm("instance", True)


@pytest.mark.parametrize("model", ["dcgan", "resnet101", "lsun_no_norm"])
@pytest.mark.parametrize("objective", ["wgan_gp", "dcgan"])
def test_build_swaps_a_batch_norm_critic_to_layer_norm_exactly_under_a_penalty(tmp_path, model, objective):
    overrides = [o for o in TINY if not o.startswith("model.")]
    cfg = compose_config(
        tmp_path,
        [
            *overrides,
            f"model={model}",
            f"objective={objective}",
            *MODELS[model][0],
            "data=digits",
            f"data.image_size={MAIN_SIZE[model]}",
            "model.critic.norm=batch",
        ],
    )
    _, built = build(cfg)
    norms = {type(m) for m in built.critic.modules()} & {nn.BatchNorm2d, nn.GroupNorm}
    assert norms == ({nn.GroupNorm} if objective == "wgan_gp" else {nn.BatchNorm2d})


# ---- App. F: the CIFAR-10 ResNet ---------------------------------------------------------------------------
def layer_types(sequential):
    return [type(m) for m in sequential if not isinstance(m, nn.Identity)]  # norm="none" is an Identity


def output_shapes(modules, run):
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:]))) for m in modules]
    run()
    for h in hooks:
        h.remove()
    return shapes


def test_resnet_matches_the_layer_table_of_appendix_f():
    g = ResNetGenerator((3, 32, 32))
    assert [type(b) for b in g.blocks] == [ResBlock] * 3 and [b.resample for b in g.blocks] == ["up"] * 3
    assert [type(m) for m in g.output] == [nn.BatchNorm2d, ReLU, nn.Conv2d, nn.Tanh]
    assert g.output[2].kernel_size == (3, 3) and g.input[0].in_features == 128
    shapes = output_shapes([g.input, *g.blocks, g.output], lambda: g(torch.randn(1, 128)))
    assert shapes == [(128, 4, 4), (128, 8, 8), (128, 16, 16), (128, 32, 32), (3, 32, 32)]
    # pre-activation, two 3x3 convs, nearest-neighbour up-sampling before the second conv
    up = [type(m) for m in g.blocks[0].residual]
    assert up == [nn.BatchNorm2d, ReLU, nn.Conv2d, nn.BatchNorm2d, ReLU, nn.Upsample, nn.Conv2d]
    assert g.blocks[0].residual[5].mode == "nearest"

    d = ResNetCritic((3, 32, 32))
    assert [type(b) for b in d.blocks] == [ResBlock] * 4
    assert [b.resample for b in d.blocks] == ["down", "down", None, None]
    shapes = output_shapes([*d.blocks, d.output], lambda: d(torch.randn(1, 3, 32, 32)))
    assert shapes == [(128, 16, 16), (128, 8, 8), (128, 8, 8), (128, 8, 8), (1,)]
    assert (d.output.in_features, d.output.out_features) == (128, 1)
    # mean pooling after the second conv; the first block sees the image, so no ReLU before its first conv
    assert layer_types(d.blocks[0].residual) == [nn.Conv2d, ReLU, nn.Conv2d, AvgPool2d]
    assert layer_types(d.blocks[1].residual) == [ReLU, nn.Conv2d, ReLU, nn.Conv2d, AvgPool2d]
    assert not any(isinstance(m, nn.BatchNorm2d | nn.GroupNorm) for m in d.modules())  # App. F: no norm in D
    convs = [m for m in weight_layers(d) if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 8 and all(c.out_channels == 128 for c in convs)  # [3x3] x 2 per block


def test_resnet101_has_101_weight_layers_and_the_released_block_layout():
    g, d = ResNet101Generator((3, 64, 64), dim=4), ResNet101Critic((3, 64, 64), dim=4)
    for net in (g, d):
        blocks = [b for b in net.blocks if isinstance(b, BottleneckBlock)]
        main_path = len(weight_layers(net)) - sum(len(weight_layers(b.shortcut)) for b in blocks)
        assert len(blocks) == 33 and main_path == 101
    assert [b.resample for b in g.blocks] == [None] * 6 + (["up"] + [None] * 6) * 3 + ["up"] + [None] * 5
    assert [b.resample for b in d.blocks[1:]] == [None] * 5 + (["down"] + [None] * 6) * 4
    shapes = output_shapes([b for b in g.blocks if b.resample == "up"], lambda: g(torch.randn(1, 128)))
    assert shapes == [(16, 8, 8), (8, 16, 16), (4, 32, 32), (2, 64, 64)]  # 4d, 2d, d, d/2 with d = 4


# ---- gated nonlinearities (Sec. 5.2 (4)) ----------------------------------------------------------------------
def test_gated_unit_is_tanh_of_the_first_half_times_sigmoid_of_the_second():
    x = torch.randn(2, 6, 3, 3)
    torch.testing.assert_close(Gated()(x), torch.tanh(x[:, :3]) * torch.sigmoid(x[:, 3:]))


@pytest.mark.parametrize("part", ["generator", "critic"])
def test_the_gated_nets_gate_every_hidden_layer_after_its_norm_and_not_the_output(part):
    layers = list(make("lsun_gated", part, (3, 64, 64)).net)
    weights = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)]
    gates = [i for i, m in enumerate(layers) if isinstance(m, Gated)]
    assert len(weights) == 5 and len(gates) == 4  # 64x64: every layer but the output one is gated
    for w, g in zip(weights, gates, strict=False):  # weights, [reshape], norm, gate, then the next weights
        assert w < g < weights[weights.index(w) + 1]
        assert {type(m).__name__ for m in layers[w + 1 : g]} <= {"Reshape", "BatchNorm2d", "GroupNorm"}
        if w > 0:  # norm on 2C channels, then the gate (DCGAN: no norm after the critic's first conv)
            assert isinstance(layers[g - 1], nn.BatchNorm2d | nn.GroupNorm)
    assert not any(isinstance(m, nn.LeakyReLU | nn.ReLU) for m in layers)  # gates replace the nonlinearity


# ---- Table 1: the DCGAN family and the random architectures ------------------------------------------------------
@pytest.mark.parametrize("depth, per_map", [(4, [0, 0, 0]), (8, [2, 1, 1]), (12, [3, 3, 2]), (20, [6, 5, 5])])
def test_depth_counts_the_weight_layers_of_the_32x32_nets(depth, per_map):
    g = DCGANGenerator((3, 32, 32), latent_dim=8, base_filters=4, depth=depth)
    d = DCGANCritic((3, 32, 32), base_filters=4, depth=depth)
    assert len(weight_layers(g)) == depth and len(weight_layers(d)) == depth
    # the extra stride-1 convs spread over the 4x4 (4b = 16), 8x8 (2b) and 16x16 (b) maps, lowest first
    extra = Counter(m.in_channels for m in weight_layers(g) if isinstance(m, nn.Conv2d))
    assert [extra[16], extra[8], extra[4]] == per_map
    extra = Counter(m.in_channels for m in weight_layers(d) if isinstance(m, nn.Conv2d) and m.stride == (1, 1))
    assert [extra[16], extra[8], extra[4]] == per_map  # the critic's 4x4 map has 4b channels too
    assert d(g(torch.randn(2, 8))).shape == (2,)


def test_table_1_fields_are_configurable_one_by_one():
    base = DCGANCritic((3, 32, 32))
    assert [type(m) for m in base.net[:2]] == [nn.Conv2d, LeakyReLU] and base.net[0].out_channels == 64
    g = DCGANGenerator((3, 32, 32), nonlinearity="softplus", norm="none", base_filters=32)
    acts = {type(m).__name__ for m in g.modules()} & {"ReLU", "LeakyReLU", "SmoothELU", "Tanh", "BatchNorm2d"}
    assert acts == {"SmoothELU", "Tanh"}  # tanh only at the output
    assert weight_layers(g)[-1].in_channels == 32
    (smooth_elu,) = {type(m) for m in g.modules() if type(m).__name__ == "SmoothELU"}
    x = torch.tensor([-30.0, -1.0, 0.0, 1.0, 30.0])
    torch.testing.assert_close(smooth_elu()(x), torch.nn.functional.softplus(2 * x + 2) / 2 - 1)
    torch.testing.assert_close(smooth_elu()(x)[[0, -1]], torch.tensor([-1.0, 30.0]))  # ELU-like tails


def test_sample_architecture_is_deterministic_uniform_and_covers_table_1_in_200_seeds():
    first = [sample_architecture(k) for k in range(200)]
    assert first == [sample_architecture(k) for k in range(200)]
    assert len({tuple(a.values()) for a in first}) == 200
    for field, values in TABLE_1.items():
        assert {a[field] for a in first} == set(values), field
        counts = Counter(sample_architecture(k)[field] for k in range(2000))
        expected = 2000 / len(values)
        assert all(abs(counts[v] - expected) < 0.2 * expected for v in values), (field, counts)


def test_random_arch_nets_build_what_their_seed_sampled_and_expose_it():
    for k in (45, 157):  # small ones (base filters 32), with and without norm in D
        arch = sample_architecture(k)
        g, d = RandomArchGenerator((3, 32, 32), k, latent_dim=8), RandomArchCritic((3, 32, 32), k, uses_penalty=True)
        assert g.arch == d.arch == {"arch_seed": k, **arch}
        assert len(weight_layers(g)) == arch["g_depth"] and len(weight_layers(d)) == arch["d_depth"]
        assert weight_layers(g)[-1].in_channels == arch["g_base_filters"]
        assert weight_layers(d)[0].out_channels == arch["d_base_filters"]
        assert any(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == arch["g_batch_norm"]
        assert d.norm == ("layer" if arch["d_batch_norm"] else "none")  # penalised: layer norm, never batch
        d(g(torch.randn(2, 8))).sum().backward()
        assert all(torch.isfinite(p.grad).all() for p in [*g.parameters(), *d.parameters()])


def covering_seeds(archs):
    """A few indices of `archs` that together show every value of every Table 1 field (greedy cover)."""
    missing = {(f, v) for f, values in TABLE_1.items() for v in values}
    chosen = []
    while missing:
        k = max(range(len(archs)), key=lambda i: len(missing & set(archs[i].items())))
        chosen.append(k)
        missing -= set(archs[k].items())
    return chosen


def test_200_consecutive_architectures_build_and_a_covering_subset_trains_at_32x32():
    """All 200 are built at 1/8 of their sampled filter counts (full width takes ~25 s to initialise on
    this CPU; width is the only difference, and full width is checked above); forward and backward run
    on a subset that shows every value of every field."""
    archs = [sample_architecture(k) for k in range(200)]
    nets = []
    for arch in archs:
        gk, dk = generator_kwargs(arch), critic_kwargs(arch)
        gk["base_filters"] //= 8
        dk["base_filters"] //= 8
        g, d = DCGANGenerator((3, 32, 32), latent_dim=8, **gk), DCGANCritic((3, 32, 32), uses_penalty=True, **dk)
        assert len(weight_layers(g)) == arch["g_depth"] and len(weight_layers(d)) == arch["d_depth"]
        assert any(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == arch["g_batch_norm"]
        assert any(isinstance(m, nn.GroupNorm) for m in d.modules()) == arch["d_batch_norm"]
        nets.append((g, d))
    subset = covering_seeds(archs)
    assert len(subset) <= 8
    for k in subset:
        g, d = nets[k]
        d(g(torch.randn(2, 8))).sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in [*g.parameters(), *d.parameters()])


# ---- every model trains through Hydra ----------------------------------------------------------------------
class RandomImages(GANDataModule):
    """Test-only image data: uniform noise in [-1, 1] of shape (C, H, W)."""

    def __init__(self, shape, batch_size: int = 4, **kwargs) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.data_shape = tuple(shape)

    def load(self, split):
        return self

    num_classes = NUM_CLASSES  # labelled, so the class-conditional models train on it too

    def sample(self, n, generator):
        real = torch.rand(n, *self.data_shape, generator=generator) * 2 - 1
        return {"real": real, "label": torch.randint(NUM_CLASSES, (n,), generator=generator)}


def image_config(name, run_dir):
    """`python src/train.py objective=wgan_gp model=name` on small settings and RandomImages data."""
    overrides = [o for o in TINY if not o.startswith("model.")]  # TINY's model.* shrink the toy MLPs
    cfg = compose_config(
        run_dir,
        [
            *overrides,
            "objective=wgan_gp",
            f"model={name}",
            "model.generator.latent_dim=8",
            *MODELS[name][0],
            "generator_iters=2",
            "objective.n_critic=1",
        ],
    )
    with open_dict(cfg):
        cfg.data = OmegaConf.create(
            {
                "_target_": f"{__name__}.RandomImages",
                "batch_size": 4,
                "batches_per_step": cfg.objective.n_critic,
                "shape": list(SHAPES[MAIN_SIZE[name]]),
            }
        )
        cfg.evaluators = {}  # the toy data's evaluators do not apply to images
    return cfg


@pytest.mark.parametrize(  # random_arch: trained through train() below
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "resnet101" else n for n in MODELS if n != "random_arch"]
)  # resnet101: a double backward through 101 layers is too slow for the fast suite
def test_every_model_takes_wgan_gp_iterations_that_move_both_players(name, tmp_path):
    cfg = image_config(name, tmp_path / "run")
    datamodule, objective = build(cfg)  # what train() fits: data, nets and objective from the config
    assert getattr(objective.critic, "norm", "none") != "batch"
    opt_g, opt_d = objective.configure_optimizers()
    start = {k: v.clone() for k, v in objective.state_dict().items() if v.is_floating_point()}
    stream = iter(datamodule.train_dataloader())
    for it in range(2):
        batch = next(stream)
        labels = batch["label"] if objective.uses_labels else None
        terms = objective.train_iteration(batch["real"], opt_g, opt_d, step_generator(cfg.seed, it, NOISE), labels)
        assert all(torch.isfinite(v) for v in terms.values()), terms
    for player in ("generator", "critic"):
        moved = [not torch.equal(v, objective.state_dict()[k]) for k, v in start.items() if k.startswith(player)]
        assert any(moved), player


def test_random_arch_trains_through_hydra_and_logs_its_architecture(tmp_path):
    cfg = image_config("random_arch", tmp_path / "run")
    assert cfg.arch_seed == 45 and cfg.model.critic.arch_seed == 45  # `arch_seed=K` is the user's override
    torch.manual_seed(cfg.seed)
    _, initial = build(cfg)  # train() seeds with cfg.seed and builds the same way: its starting weights
    train(cfg)
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["wgangp"]["generator_iter"] == 2
    for player in ("generator", "critic"):
        start = {k: v for k, v in initial.state_dict().items() if k.startswith(player) and v.is_floating_point()}
        assert any(not torch.equal(v, ckpt["state_dict"][k]) for k, v in start.items()), player
    with open(tmp_path / "run/metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["train/critic_loss"]]
    assert [int(r["step"]) for r in rows] == [1, 2]
    hparams = OmegaConf.load(tmp_path / "run/hparams.yaml")  # the sampled choices, as hyperparameters
    assert hparams.arch == {"arch_seed": 45, **sample_architecture(45)}


# ---- the penalty-friendly piecewise-linear units --------------------------------------------------------------
PIECEWISE = [(ReLU, nn.ReLU, {}), (LeakyReLU, nn.LeakyReLU, {"negative_slope": 0.2})]


def _two_layer(unit: type[nn.Module], kwargs: dict, seed: int = 0) -> tuple[nn.Module, list[Tensor]]:
    """Linear(3, 16), unit, Linear(16, 1) with seeded weights, and a list the hidden pre-activation's
    gradients are appended to whenever a backward pass reaches it."""
    torch.manual_seed(seed)
    first, last, act = nn.Linear(3, 16), nn.Linear(16, 1), unit(**kwargs)
    seen: list[Tensor] = []

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first, self.act, self.last = first, act, last

        def forward(self, x: Tensor) -> Tensor:
            h = self.first(x)
            if h.requires_grad:
                h.register_hook(lambda g: seen.append(g.detach().clone()))
            return self.last(self.act(h)).squeeze(1)

    return Net(), seen


@pytest.mark.parametrize("ours, torchs, kwargs", PIECEWISE)
def test_piecewise_linear_units_give_pytorchs_outputs_and_first_and_second_order_gradients(ours, torchs, kwargs):
    x = torch.randn(64, 3, dtype=torch.float64, requires_grad=True)
    assert torch.equal(ours(**kwargs)(x), torchs(**kwargs)(x))
    assert torch.autograd.gradcheck(ours(**kwargs), (x,))
    assert torch.autograd.gradgradcheck(ours(**kwargs), (x,))
    # a gradient penalty's parameter gradients: the same bits as with PyTorch's unit
    real, fake = torch.randn(32, 3), torch.randn(32, 3)
    eps = torch.rand(32)
    grads = []
    for unit in (ours, torchs):
        net, _ = _two_layer(unit, kwargs)
        loss = net(fake).mean() - net(real).mean() + 10 * gradient_penalty(net, real, fake, eps=eps)
        grads.append(torch.autograd.grad(loss, list(net.parameters())))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("ours, torchs, kwargs", PIECEWISE)
def test_the_penalty_double_backward_does_not_revisit_the_forward_pass_with_zeros(ours, torchs, kwargs):
    """PyTorch's unit sends an all-zero gradient back into the forward pass at the interpolates during
    the penalty's double backward; ours does not go there at all."""
    x = torch.randn(32, 3)
    for unit, second_visits in ((torchs, 1), (ours, 0)):
        net, seen = _two_layer(unit, kwargs)
        x_hat = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(net(x_hat).sum(), x_hat, create_graph=True)
        assert len(seen) == 1  # the input gradient itself passes through the pre-activation
        g.norm(dim=1).sub(1).pow(2).mean().backward()
        assert len(seen) == 1 + second_visits
        assert all(not v.any() for v in seen[1:])  # what PyTorch's unit sends there is zeros


def _zero_visits(critic: nn.Module, x: Tensor) -> list[str]:
    """Modules of `critic` whose output at `x` receives an all-zero gradient during the double backward
    of a gradient penalty at `x` (the pass PyTorch makes when an op records its input in its backward)."""
    zero: list[str] = []
    handles = []

    def watch(name):
        def hook(module, args, out):
            if isinstance(out, Tensor) and out.requires_grad:
                out.register_hook(lambda g: zero.append(name) if g is not None and not g.any() else None)

        return hook

    for name, module in critic.named_modules():
        if name:
            handles.append(module.register_forward_hook(watch(name)))
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    zero.clear()  # only the double backward counts
    g.flatten(1).norm(dim=1).sub(1).pow(2).mean().backward()
    for h in handles:
        h.remove()
    return zero


@pytest.mark.parametrize("name", ["resnet", "lsun_no_norm", "mlp", "charcnn"])
def test_no_critic_sends_zeros_back_through_its_forward_pass_in_the_penalty_double_backward(name):
    """Every unit and pool of the nets (ReLU, LeakyReLU, the ResNet's mean pool) keeps the penalty's double
    backward out of the forward pass at the interpolates; torch.nn's units would send zeros through it."""
    overrides = {"mlp": ["model.critic.width=16"], "charcnn": ["model.critic.dim=8"]}
    if name in overrides:  # not image nets: not in MODELS
        critic = instantiate(
            compose_config("unused", [f"model={name}", *overrides[name]]).model.critic,
            data_shape=(5, 8) if name == "charcnn" else (1, 8, 8),
        )
    else:
        critic = make(name, "critic", SHAPES[32], uses_penalty=True)
    x = torch.randn(4, *critic.data_shape)
    assert _zero_visits(critic, x) == []
    assert _zero_visits(with_torch_units(critic), x) != []  # the check sees what it guards against


def test_mean_pool_gives_pytorchs_outputs_and_first_and_second_order_gradients():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.equal(AvgPool2d(2)(x), nn.AvgPool2d(2)(x))
    assert torch.autograd.gradcheck(AvgPool2d(2), (x,))
    assert torch.autograd.gradgradcheck(AvgPool2d(2), (x,))
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), ReLU(), AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 16, 1))
    real, fake, eps = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8), torch.rand(4)
    grads = []
    plain = with_torch_units(copy.deepcopy(critic))  # the same weights, torch.nn's pool and unit
    assert type(plain[1]) is nn.ReLU and type(plain[2]) is nn.AvgPool2d and type(critic[2]) is AvgPool2d
    for net in (critic, plain):
        loss = net(fake).mean() - net(real).mean() + 10 * gradient_penalty(net, real, fake, eps=eps)
        grads.append(torch.autograd.grad(loss, list(net.parameters())))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
