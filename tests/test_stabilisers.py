"""Feature matching and minibatch features (Salimans et al. 2016; Karras et al. 2018): the losses and layers
against hand computations, the Sec. 4 refusal under a gradient penalty, and training through the command
line's overrides with every objective each claims to support."""

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from torch import nn

from conftest import conf_options, objective_class, unconditional_objectives
from wgangp.errors import UserInputError
from wgangp.losses import feature_matching_loss
from wgangp.nets.dcgan import DCGANCritic
from wgangp.nets.minibatch import MinibatchDiscrimination, MinibatchStdDev
from wgangp.nets.mlp import MLPCritic, MLPGenerator
from wgangp.nets.resnet import ResNetCritic
from wgangp.objectives.engine import generator_terms
from wgangp.objectives.gan import StandardGAN
from wgangp.objectives.wgan_clip import WGANClip
from wgangp.objectives.wgan_gp import WGANGP
from wgangp.rng import step_generator
from wgangp.train import train

# The objectives whose critic loss differentiates D by its input (each class says so; tests/test_objectives.py
# checks the attribute against what the loss does), and the WGANs, whose generator minimises the W1 estimate.
PENALISED = {name for name in conf_options("objective") if objective_class(name).uses_gradient_penalty}
WGANS = {name for name in conf_options("objective") if issubclass(objective_class(name), (WGANGP, WGANClip))}


class Identity(nn.Module):
    """A 'generator' whose samples are its latents, so a test chooses the fake batch."""

    latent_dim, data_shape = 2, (2,)

    def forward(self, z):
        return z


def hand_critic():
    critic = MLPCritic((2,), width=3, hidden_layers=1)  # features: relu(W x + b), W (3, 2)
    with torch.no_grad():
        critic.net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        critic.net[0].bias.zero_()
    return critic


# ---- feature matching ----------------------------------------------------------------------------------
def test_feature_matching_loss_matches_the_hand_computation():
    critic = hand_critic()
    real, fake = torch.tensor([[1.0, 2.0], [3.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    # features: real (1, 2, 3), (3, 0, 3) -> mean (2, 1, 3); fake (0, 0, 0), (1, 0, 0) -> mean (0.5, 0, 0)
    torch.testing.assert_close(critic.features(real), torch.tensor([[1.0, 2.0, 3.0], [3.0, 0.0, 3.0]]))
    expected = torch.tensor(1.5**2 + 1.0**2 + 3.0**2)
    torch.testing.assert_close(feature_matching_loss(critic.features(real), critic.features(fake)), expected)
    obj = StandardGAN(
        generator=Identity(), critic=critic, optimizer=torch.optim.Adam, generator_loss="feature_matching"
    )
    torch.testing.assert_close(generator_terms(obj, real, fake)["generator_loss"], expected)


def test_feature_matching_trains_every_discriminator_objective_and_is_refused_for_the_wgans(tiny_config, tmp_path):
    metrics = train(tiny_config("objective=dcgan", "objective.generator_loss=feature_matching", run_dir=tmp_path / "a"))
    assert 0 < metrics["val/w1"] < 10
    with pytest.raises(UserInputError, match="Wasserstein estimate"):
        train(tiny_config("objective=wgan_gp", "objective.generator_loss=feature_matching", run_dir=tmp_path / "b"))
    for name in sorted(set(unconditional_objectives()) - {"dcgan"}):
        cfg = tiny_config(f"objective={name}", "objective.generator_loss=feature_matching")
        torch.manual_seed(0)
        generator = MLPGenerator((2,), latent_dim=2, width=16, tanh=False)
        supported = get_class(cfg.objective._target_).supports_feature_matching
        assert supported == (name not in WGANS), name
        if not supported:  # the WGANs: exit 2 through train() above; each one's constructor here
            with pytest.raises(InstantiationException, match="Wasserstein estimate"):
                instantiate(cfg.objective, generator=generator, critic=MLPCritic((2,), width=16))
            continue
        obj = instantiate(cfg.objective, generator=generator, critic=MLPCritic((2,), width=16))
        opt_g, opt_d = obj.configure_optimizers()
        before = [p.detach().clone() for p in generator.parameters()]
        terms = obj.train_iteration(torch.randn(obj.n_critic, 8, 2), opt_g, opt_d, step_generator(0, 0, 1))
        assert terms["generator_loss"] >= 0 and torch.isfinite(terms["generator_loss"]), name
        assert any(not torch.equal(p, p0) for p, p0 in zip(generator.parameters(), before, strict=True)), name


def test_feature_matching_reads_the_chosen_layer_counted_from_the_input_or_the_last():
    torch.manual_seed(0)
    critic = MLPCritic((2,), width=3, hidden_layers=2)  # net: Linear, ReLU, Linear, ReLU, Linear
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    first = critic.net[:2]  # the first hidden layer's output
    torch.testing.assert_close(critic.features(real, 1), first(real))
    torch.testing.assert_close(critic.features(real, -1), critic.features(real))
    torch.testing.assert_close(critic.features(real, 2), critic.net[:4](real))
    obj = StandardGAN(
        generator=Identity(), critic=critic, optimizer=torch.optim.Adam, generator_loss="feature_matching",
        feature_layer=1,
    )  # fmt: skip
    expected = feature_matching_loss(first(real), first(fake))
    torch.testing.assert_close(generator_terms(obj, real, fake)["generator_loss"], expected)
    dcgan = DCGANCritic((1, 28, 28), base_filters=4, norm="layer", depth=8)
    convs = [m for m in dcgan.net if isinstance(m, nn.Conv2d)]
    assert len(dcgan.feature_boundaries) == len(convs)  # one layer per conv, after its nonlinearity
    assert dcgan.features(torch.randn(2, 1, 28, 28), 1).shape == (2, 4 * 14 * 14)
    assert dcgan.features(torch.randn(2, 1, 28, 28), -1).shape == (2, dcgan.feature_dim)


@pytest.mark.parametrize(
    "critic, generator_loss, layer, match",
    [
        (MLPCritic((2,), width=3, hidden_layers=2), "feature_matching", 3, r"1\.\.2 \(from the input\)"),
        (MLPCritic((2,), width=3, hidden_layers=2), "feature_matching", -3, "out of range for MLPCritic"),
        (MLPCritic((2,), width=3), "default", 1, "generator_loss=feature_matching"),
        (ResNetCritic((3, 32, 32), channels=8), "feature_matching", 1, "offers its last features only"),
    ],
)
def test_a_feature_layer_out_of_range_or_without_feature_matching_is_refused(critic, generator_loss, layer, match):
    with pytest.raises(ValueError, match=match):
        StandardGAN(
            generator=Identity(), critic=critic, optimizer=torch.optim.Adam, generator_loss=generator_loss,
            feature_layer=layer,
        )  # fmt: skip


def test_a_feature_layer_on_a_wgan_says_to_drop_it(tiny_config):
    from wgangp.objectives.wgan_gp import WGANGP

    with pytest.raises(
        ValueError, match="WGANGP does not train with feature matching, so drop objective.feature_layer"
    ):
        WGANGP(generator=Identity(), critic=MLPCritic((2,), width=3), optimizer=torch.optim.Adam, feature_layer=1)


def test_a_feature_layer_on_the_command_line_trains_and_a_bad_one_exits_before_training(tiny_config, tmp_path):
    fm = ["objective=dcgan", "objective.generator_loss=feature_matching"]
    assert 0 < train(tiny_config(*fm, "objective.feature_layer=1", run_dir=tmp_path / "a"))["val/w1"] < 10
    with pytest.raises(UserInputError, match="out of range"):
        train(tiny_config(*fm, "objective.feature_layer=9", run_dir=tmp_path / "b"))
    assert not (tmp_path / "b/checkpoints").exists()


def test_feature_matching_needs_a_critic_with_features():
    with pytest.raises(ValueError, match="features"):
        StandardGAN(
            generator=Identity(), critic=nn.Linear(2, 1), optimizer=torch.optim.Adam, generator_loss="feature_matching"
        )


# ---- minibatch features ---------------------------------------------------------------------------------
def test_minibatch_discrimination_matches_the_papers_sums():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(3, kernels=2, kernel_dim=4)
    f = torch.randn(5, 3)
    m = (f @ layer.T).view(5, 2, 4)  # M_i = f_i T, (N, B, C)
    with torch.no_grad():
        o = torch.tensor(
            [[sum(torch.exp(-(m[i, b] - m[j, b]).abs().sum()) for j in range(5)) for b in range(2)] for i in range(5)]
        )  # noqa: E501
        out = layer(f)
    assert out.shape == (5, 3 + 2)
    torch.testing.assert_close(out[:, :3], f)
    torch.testing.assert_close(out[:, 3:], o)


def test_minibatch_stddev_appends_the_batch_mean_standard_deviation():
    x = torch.randn(6, 3, 4, 4)
    out = MinibatchStdDev()(x)
    assert out.shape == (6, 4, 4, 4)
    expected = x.std(0, unbiased=False).mean()
    torch.testing.assert_close(out[:, 3], expected.expand(6, 4, 4), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("minibatch", ["discrimination", "stddev"])
def test_minibatch_critics_couple_the_batch_and_keep_per_sample_features(minibatch):
    torch.manual_seed(0)
    for critic, shape in [
        (MLPCritic((2,), width=8, minibatch=minibatch), (2,)),
        (DCGANCritic((3, 32, 32), base_filters=4, norm="none", minibatch=minibatch), (3, 32, 32)),
        (DCGANCritic((1, 28, 28), base_filters=4, norm="layer", minibatch=minibatch), (1, 28, 28)),
    ]:
        x = torch.randn(4, *shape)
        other = torch.cat([x[:1], torch.randn(3, *shape)])
        assert critic(x).shape == (4,)
        assert not torch.allclose(critic(x)[0], critic(other)[0])  # the score of x_0 sees the batch
        torch.testing.assert_close(critic.features(x)[0], critic.features(other)[0])  # its features do not


def test_minibatch_features_are_refused_under_a_gradient_penalty_naming_sec_4(tiny_config):
    with pytest.raises(UserInputError, match="Sec. 4"):
        train(tiny_config("objective=wgan_gp", "model.critic.minibatch=stddev"))  # the command line's exit 2
    for name in conf_options("objective"):
        cfg = tiny_config(f"objective={name}", "model.critic.minibatch=discrimination")
        if get_class(cfg.objective._target_).uses_gradient_penalty:  # what wgangp.build passes
            with pytest.raises(InstantiationException, match="Sec. 4"):
                instantiate(cfg.model.critic, data_shape=(2,), uses_penalty=True)


def test_minibatch_critics_train_every_objective_without_a_penalty(tiny_config, tmp_path):
    small = ["model.critic.minibatch_kernels=4", "evaluators.w1.plot_every_n_iters=0"]  # the value surface's 16K points
    cfg = tiny_config("objective=dcgan", "model.critic.minibatch=discrimination", *small, run_dir=tmp_path / "a")
    assert 0 < train(cfg)["val/w1"] < 10
    for name in sorted(set(unconditional_objectives()) - PENALISED):
        for minibatch in ["discrimination", "stddev"]:
            cfg = tiny_config(f"objective={name}", f"model.critic.minibatch={minibatch}")
            torch.manual_seed(0)
            generator = MLPGenerator((2,), latent_dim=2, width=16, tanh=False)
            critic = instantiate(cfg.model.critic, data_shape=(2,), uses_penalty=False)
            obj = instantiate(cfg.objective, generator=generator, critic=critic)
            opt_g, opt_d = obj.configure_optimizers()
            terms = obj.train_iteration(torch.randn(obj.n_critic, 8, 2), opt_g, opt_d, step_generator(0, 0, 1))
            assert all(torch.isfinite(v) for v in terms.values()), (name, minibatch)


# ---- TTUR ----------------------------------------------------------------------------------------------
def test_ttur_trains_each_player_with_its_own_learning_rate(tiny_config, tmp_path):
    cfg = tiny_config("experiment=ttur", "objective=wgan_gp")
    assert cfg.objective.optimizer.lr == 3e-4 and cfg.objective.generator_optimizer.lr == 1e-4
    train(cfg)
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    generator_opt, critic_opt = ckpt["optimizer_states"]  # configure_optimizers: [generator, critic]
    assert generator_opt["param_groups"][0]["lr"] == 1e-4 and critic_opt["param_groups"][0]["lr"] == 3e-4
