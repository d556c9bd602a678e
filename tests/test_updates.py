"""objective.update: the update rules' closed forms on the lecture notes' bilinear game, their optimizer state
(extragradient leaves none, optimistic keeps its previous step and resumes exactly), and every objective
trained under each joint rule through its command-line overrides."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate

from conftest import compose_config, unconditional_objectives
from wgangp.errors import UserInputError
from wgangp.experiments.bilinear_game import play
from wgangp.nets.mlp import MLPCritic, MLPGenerator
from wgangp.objectives.updates import PREVIOUS_STEP, Player, check_update_supported, extragradient
from wgangp.rng import step_generator
from wgangp.train import train

ETA = 0.1
JOINT = ["simultaneous", "extragradient", "optimistic"]
NETS = ("generator", "critic")


# ---- the bilinear game f(x, y) = xy from (1, 0) --------------------------------------------------------
def test_one_simultaneous_step_multiplies_the_distance_by_sqrt_1_plus_eta_squared():
    path = play("simultaneous", ETA, 50)
    torch.testing.assert_close(path[1], torch.tensor([1.0, ETA], dtype=torch.float64))  # the notes' step 1
    ratios = path[1:].norm(dim=1) / path[:-1].norm(dim=1)
    torch.testing.assert_close(ratios, torch.full((50,), math.sqrt(1 + ETA**2), dtype=torch.float64))


def test_extragradient_shrinks_the_distance_by_sqrt_1_minus_eta_squared_plus_eta_fourth():
    path = play("extragradient", ETA, 50)
    # predictive step (1, eta), corrective from (1, 0) with the gradients there: (1 - eta^2, eta)
    torch.testing.assert_close(path[1], torch.tensor([1 - ETA**2, ETA], dtype=torch.float64))
    ratios = path[1:].norm(dim=1) / path[:-1].norm(dim=1)
    torch.testing.assert_close(ratios, torch.full((50,), math.sqrt(1 - ETA**2 + ETA**4), dtype=torch.float64))
    assert (ratios < 1).all()


def test_alternating_orbits_on_its_conserved_curve_and_optimistic_converges():
    x, y = play("alternating", ETA, 1000).unbind(1)
    # x' = x - eta y, y' = y + eta x' has determinant 1 and keeps x^2 + y^2 - eta x y fixed: a closed orbit
    torch.testing.assert_close(x * x + y * y - ETA * x * y, torch.ones(1001, dtype=torch.float64))
    optimistic = play("optimistic", ETA, 1000)
    torch.testing.assert_close(optimistic[1], play("simultaneous", ETA, 1)[1])  # the first step has nothing to correct
    # x_{t+1} = x_t - eta (2 y_t - y_{t-1}), y_{t+1} = y_t + eta (2 x_t - x_{t-1}) from then on
    x, y = optimistic.unbind(1)
    torch.testing.assert_close(x[2:], x[1:-1] - ETA * (2 * y[1:-1] - y[:-2]))
    torch.testing.assert_close(y[2:], y[1:-1] + ETA * (2 * x[1:-1] - x[:-2]))
    assert optimistic[-1].norm() < 0.01


def test_the_experiment_writes_the_distance_per_step_and_the_trajectories(tmp_path):
    run = tmp_path / "bg"
    cfg = compose_config(run, ["experiment=bilinear_game"])
    instantiate(cfg.task)(cfg)  # what `python src/train.py experiment=bilinear_game` runs (wgangp.train.main)
    assert (run / "bilinear_game.png").stat().st_size > 10_000
    rows = (run / "bilinear_game.csv").read_text().splitlines()
    assert rows[0] == "rule,step,x,y,distance" and len(rows) == 1 + 4 * 101
    final = json.loads((run / "bilinear_game.json").read_text())["distance"]
    torch.testing.assert_close(final["simultaneous"], (1 + ETA**2) ** 50)
    assert final["extragradient"] < 1 and final["optimistic"] < 1 and 0.9 < final["alternating"] < 1.1


# ---- optimizer state -----------------------------------------------------------------------------------
def test_extragradient_restores_adams_state_so_its_moments_see_the_half_point_gradient_only():
    # one player minimising (w - 3)^2 / 2 alone: gradient w - 3; Adam's first step moves by lr * sign
    w = torch.tensor([0.0], requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.5, betas=(0.5, 0.9))
    extragradient([Player(opt)], lambda: [[w.detach() - 3]])
    # half point: w~ = 0.5 (gradient -2.5 there); restored to w = 0 with a fresh state; then one Adam step
    # with g = -2.5: w = 0 + 0.5
    state = opt.state[w]
    assert int(state["step"]) == 1
    torch.testing.assert_close(state["exp_avg"], torch.tensor([0.5 * -2.5]))
    torch.testing.assert_close(state["exp_avg_sq"], torch.tensor([0.1 * 2.5**2]))
    torch.testing.assert_close(w.detach(), torch.tensor([0.5]))


def test_joint_rules_refuse_fp16_and_ddp_before_training():
    scaler = SimpleNamespace(is_enabled=lambda: True)
    fp16 = SimpleNamespace(precision_plugin=SimpleNamespace(scaler=scaler), world_size=1)
    ddp = SimpleNamespace(precision_plugin=SimpleNamespace(), world_size=2)
    with pytest.raises(UserInputError, match="16-mixed"):
        check_update_supported("extragradient", fp16)
    with pytest.raises(UserInputError, match="ddp"):
        check_update_supported("optimistic", ddp)
    check_update_supported("alternating", ddp)  # Alg. 1's loop supports both


# ---- training ------------------------------------------------------------------------------------------
def tiny_objective(cfg):
    torch.manual_seed(0)
    generator = MLPGenerator((2,), latent_dim=2, width=16, tanh=False)
    return instantiate(cfg.objective, generator=generator, critic=MLPCritic((2,), width=16))


def test_every_objective_steps_both_players_under_each_joint_rule(tiny_config):
    for name in unconditional_objectives():  # conditional runs refuse the joint rules (test_conditional)
        cfg = tiny_config(f"objective={name}", "objective.update=simultaneous")  # the field the command line sets
        for update in JOINT:
            cfg.objective.update = update
            obj = tiny_objective(cfg)
            opt_g, opt_d = obj.configure_optimizers()
            steps = []
            opt_d.register_step_post_hook(lambda *_, steps=steps: steps.append("d"))
            opt_g.register_step_post_hook(lambda *_, steps=steps: steps.append("g"))
            before = {net: [p.detach().clone() for p in getattr(obj, net).parameters()] for net in NETS}
            for it in range(2):
                terms = obj.train_iteration(torch.randn(obj.n_critic, 8, 2), opt_g, opt_d, step_generator(0, it, 1))
                assert all(torch.isfinite(v) for v in terms.values()), (name, update)
            # n_critic critic steps per generator step (extragradient's look-ahead steps are counted here too)
            per_iteration = ["d"] * (obj.n_critic - 1) + ["d", "g"] * (2 if update == "extragradient" else 1)
            assert steps == per_iteration * 2, (name, update)
            for net, params in before.items():  # both players moved
                moved = [not torch.equal(p, p0) for p, p0 in zip(getattr(obj, net).parameters(), params, strict=True)]
                assert any(moved), (name, update, net)
            if name == "wgan_clip":
                assert max(p.abs().max() for p in obj.critic.parameters()) <= obj.clip_value


@pytest.mark.parametrize("update", JOINT)
def test_the_joint_rules_draw_the_generator_batch_of_its_own_size(tiny_config, update):
    cfg = tiny_config("objective=wgan_gp", f"objective.update={update}", "objective.generator_batch_size=16")
    obj = tiny_objective(cfg)
    sizes, generator_loss = [], obj.generator_loss
    obj.generator_loss = lambda s: sizes.append(len(s.z)) or generator_loss(s)
    opt_g, opt_d = obj.configure_optimizers()
    obj.train_iteration(torch.randn(obj.n_critic, 8, 2), opt_g, opt_d, step_generator(0, 0, 1))
    assert sizes and set(sizes) == {16}  # not the critic's 8


@pytest.mark.parametrize(
    "update, objective, precision",
    [("simultaneous", "wgan_clip", "32-true"), ("extragradient", "gan_gp", "bf16-mixed")],
)  # optimistic: in the resume test below
def test_each_joint_rule_trains_through_the_command_line(tiny_config, tmp_path, update, objective, precision):
    cfg = tiny_config(f"objective={objective}", f"objective.update={update}", f"trainer.precision={precision}")
    metrics = train(cfg)
    assert 0 < metrics["val/w1"] < 10
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 4  # one step counted per generator iteration (debug=fast: 4)
    assert not any(PREVIOUS_STEP in s for opt in ckpt["optimizer_states"] for s in opt["state"].values())


def test_an_optimistic_run_resumes_to_the_uninterrupted_weights_and_previous_steps(tiny_config, tmp_path):
    overrides = ["objective=dcgan", "objective.update=optimistic", "trainer.precision=32-true"]
    train(tiny_config(*overrides, "generator_iters=4", run_dir=tmp_path / "full"))
    train(tiny_config(*overrides, "generator_iters=2", run_dir=tmp_path / "first"))
    first = tmp_path / "first/checkpoints/last.ckpt"
    train(tiny_config(*overrides, "generator_iters=4", f"ckpt_path={first}", run_dir=tmp_path / "resumed"))
    full, resumed = (
        torch.load(tmp_path / f"{r}/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
        for r in ("full", "resumed")
    )
    for key, value in full["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    for opt_full, opt_resumed in zip(full["optimizer_states"], resumed["optimizer_states"], strict=True):
        for pid, state in opt_full["state"].items():
            assert set(state) == set(opt_resumed["state"][pid]) and PREVIOUS_STEP in state
            for k, v in state.items():
                assert torch.equal(torch.as_tensor(v), torch.as_tensor(opt_resumed["state"][pid][k])), k
