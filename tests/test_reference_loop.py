"""The objectives' Alg. 1 loop equals the plain-PyTorch reference (wgangp.reference): from the same initial
weights, real batches and noise streams, both reach the same parameters after a few generator iterations,
on the toy MLP and on a tiny DCGAN, for WGAN-GP, the clipped WGAN and the standard GAN."""

import copy
from functools import partial

import pytest
import torch

from wgangp.data.finite import TensorSource
from wgangp.data.stream import StepSampler
from wgangp.data.toy import EightGaussians
from wgangp.nets.dcgan import DCGANCritic, DCGANGenerator
from wgangp.nets.mlp import MLPCritic, MLPGenerator
from wgangp.nets.units import with_torch_units
from wgangp.objectives.gan import StandardGAN
from wgangp.objectives.wgan_clip import WGANClip
from wgangp.objectives.wgan_gp import WGANGP
from wgangp.reference import ReferenceLoop
from wgangp.rng import NOISE, step_generator

SEED, N_CRITIC, BATCH, ITERS = 3, 5, 8, 3

# objective class, its arguments, the optimizer both loops use, the reference's arguments for the same loss
OBJECTIVES = {
    "wgan_gp": (
        WGANGP,
        {"gp_weight": 10.0},
        partial(torch.optim.Adam, lr=1e-3, betas=(0.0, 0.9)),
        {"loss": "wasserstein", "gp_weight": 10.0},
    ),
    "wgan_clip": (
        WGANClip,
        {"clip_value": 0.05},
        partial(torch.optim.RMSprop, lr=1e-3),
        {"loss": "wasserstein", "clip_value": 0.05},
    ),
    "gan": (StandardGAN, {}, partial(torch.optim.Adam, lr=1e-3, betas=(0.5, 0.999)), {"loss": "gan"}),
}


def toy_nets(uses_penalty):
    return MLPGenerator((2,), latent_dim=2, width=16, tanh=False), MLPCritic((2,), width=16)


def dcgan_nets(uses_penalty):
    # 32x32 grey, 4 base filters; batch norm in G, and in D unless penalised (layer norm then)
    shape = (1, 32, 32)
    return (
        DCGANGenerator(shape, latent_dim=8, base_filters=4),
        DCGANCritic(shape, base_filters=4, uses_penalty=uses_penalty),
    )


NETS = {
    "toy": (toy_nets, EightGaussians()),
    "dcgan": (
        dcgan_nets,
        TensorSource(
            torch.randint(0, 256, (32, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        ),
    ),
}


def train_both(objective_name, nets_name, **sabotage):
    """ITERS generator iterations of the objective's train_iteration and of the reference from the same
    initial weights (the reference's nets with torch.nn's units, as a port builds them) and real batches;
    `sabotage` overrides reference arguments. Returns both loops' states and the gradient-free names."""
    cls, kwargs, optimizer, ref_kwargs = OBJECTIVES[objective_name]
    make_nets, source = NETS[nets_name]
    torch.manual_seed(0)
    generator, critic = make_nets(cls.uses_gradient_penalty)
    ref_g, ref_d = with_torch_units(copy.deepcopy(generator)), with_torch_units(copy.deepcopy(critic))
    objective = cls(generator=generator, critic=critic, optimizer=optimizer, n_critic=N_CRITIC, seed=SEED, **kwargs)
    opt_g, opt_d = objective.configure_optimizers()
    reference = ReferenceLoop(
        ref_g,
        ref_d,
        optimizer(ref_g.parameters()),
        optimizer(ref_d.parameters()),
        **{"n_critic": N_CRITIC, "seed": SEED, **ref_kwargs, **sabotage},
    )
    real_batches = StepSampler(source, seed=SEED, batches=N_CRITIC, batch_size=BATCH)  # the data module's stream
    for step in range(ITERS):
        real = real_batches(step)["real"]  # (n_critic, m, *data_shape)
        objective.train_iteration(real, opt_g, opt_d, step_generator(SEED, step, NOISE))  # objective.step_rng()'s
        reference.step(real)
    return state(generator, critic), state(ref_g, ref_d), gradient_free("G.", generator) | gradient_free("D.", critic)


def state(generator, critic):
    """Both players' parameters and buffers, named G.* and D.*."""
    return {
        **{f"G.{k}": v for k, v in generator.state_dict().items()},
        **{f"D.{k}": v for k, v in critic.state_dict().items()},
    }


def gradient_free(prefix, net):
    """State names of `net` that the loss does not depend on in exact arithmetic: the bias of a layer right
    before a batch norm (which subtracts the batch mean again, bias included) and that norm's running mean
    (which tracks it). Their gradient is rounding noise of a sum that is 0, different in each loop, and
    Adam's sign-like early steps (lr * g / (|g| + eps)) turn any noise into lr-sized moves."""
    names = set()
    for seq_name, seq in net.named_modules():
        if isinstance(seq, torch.nn.Sequential):
            for (i, a), (j, b) in zip(list(seq.named_children())[:-1], list(seq.named_children())[1:], strict=True):
                if isinstance(b, torch.nn.BatchNorm2d) and getattr(a, "bias", None) is not None:
                    names |= {f"{prefix}{seq_name}.{i}.bias", f"{prefix}{seq_name}.{j}.running_mean"}
    return names


def moved_from_init(trained, nets_name, objective_name):
    """Names of `trained` (a `state`) whose values differ from the initial nets' (rebuilt from seed 0)."""
    torch.manual_seed(0)
    init = state(*NETS[nets_name][0](OBJECTIVES[objective_name][0].uses_gradient_penalty))
    return {k for k, v in trained.items() if v.is_floating_point() and not torch.equal(v, init[k])}


@pytest.mark.parametrize("nets_name", list(NETS))
@pytest.mark.parametrize("objective_name", list(OBJECTIVES))
def test_train_iteration_reaches_the_reference_loops_parameters(objective_name, nets_name):
    ours, theirs, gradient_free_names = train_both(objective_name, nets_name)
    assert ours.keys() == theirs.keys()
    if nets_name == "dcgan":  # batch norm in G, and in D unless penalised
        assert gradient_free_names
    for name in ours.keys() - gradient_free_names:  # every other weight, bias and batch-norm statistic
        torch.testing.assert_close(ours[name], theirs[name], msg=lambda m, name=name: f"{name}: {m}")
    # both players trained: every weight tensor of either net moved away from its initial value
    weights = {k for k in ours if k.endswith("weight")}
    assert weights <= moved_from_init(ours, nets_name, objective_name)
    if objective_name == "wgan_clip":
        assert all(
            v.abs().max() <= 0.05
            for k, v in ours.items()
            if k.startswith("D.") and v.is_floating_point() and "running" not in k
        )


@pytest.mark.parametrize(
    "objective_name, sabotage",
    [
        ("wgan_gp", {"n_critic": N_CRITIC - 1}),
        ("wgan_gp", {"gp_weight": 0.0}),
        ("wgan_clip", {"clip_value": None}),
        ("gan", {"loss": "wasserstein"}),
    ],
    ids=["skips-a-critic-step", "drops-the-penalty", "skips-the-clipping", "wrong-loss"],
)
def test_the_comparison_catches_a_reference_that_differs_from_algorithm_1(objective_name, sabotage):
    ours, theirs, _ = train_both(objective_name, "toy", **sabotage)
    worst = max(float((ours[k] - theirs[k]).abs().max()) for k in ours)
    assert worst > 1e-3  # far outside the fp32 tolerance the test above allows (atol 1e-5)
