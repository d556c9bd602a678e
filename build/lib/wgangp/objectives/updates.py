"""Update rules for the two players of a min-max game: `objective.update` (the GAN lecture
notes, "Non convergence of GAN training" and its predictive step).

A rule is a plain function `rule(players, gradients)`: each `Player` is its parameters and its optimizer,
and `gradients()` returns every player's gradient of its own loss at the parameters as they are now (the
same minibatch on every call). The same functions train the GANs (wgangp.objectives.engine's
`joint_train_iteration`, when `update != alternating`) and play the notes' bilinear game
(wgangp.experiments.bilinear_game), so the closed forms tested on the game hold for the training code.

- alternating: one player after the other, each from the other's new point. Training keeps Alg. 1's own
  loop in objectives/engine.py for it; `alternating` here is the same rule for the bilinear game.
- simultaneous: both gradients at the current point, both steps applied (gradient descent-ascent).
- extragradient: the notes' predictive step to a half point (x~, y~) = (x, y) -/+ eta grad f(x, y), then
  the corrective step from the current point with the half point's gradients. The half step is taken
  with each player's own optimizer from its current state, and afterwards both parameters and optimizer
  state (Adam's moments and step count, RMSProp's averages) are restored, so the extrapolation leaves no
  trace: the moments see one gradient per iteration, the half point's. That is our choice: Gidel et al.
  2019's Extra-Adam, as we read it, updates them at the extrapolation too; with plain SGD the two agree
  and are the notes' formulas. It counts once:
  only the corrective generator step goes through Lightning's wrapper.
- optimistic: optimistic mirror descent (Daskalakis et al. 2018), theta <- theta - eta (2 g_t - g_{t-1}),
  written over the player's optimizer as theta <- theta + 2 d_t - d_{t-1}, where d_t is the step the
  optimizer takes from g_t: with SGD exactly the formula, with Adam Daskalakis et al.'s Optimistic Adam
  (2 m_t / sqrt(v_t) - m_{t-1} / sqrt(v_{t-1}), bias-corrected). d_{t-1} is kept in the optimizer's
  state under "optimistic_previous_step", so checkpoints carry it and a resume continues exactly. The
  first step has no previous step to correct and is a plain step (d_{-1} = d_0).

Combining with n_critic (all three joint rules): a generator iteration takes n_critic - 1 plain critic
steps of Alg. 1 (l.2-10, each on its own fresh real batch and z), then one joint step of both players
on the last real batch, so the critic still takes n_critic steps per generator step; with the standard
GANs' n_critic = 1 it is the pure joint rule.

Supported with fp32 and bf16 on one device. Not with trainer.precision=16-mixed (the gradients are taken
with torch.autograd.grad, outside the loss scaler) nor trainer=ddp (the joint steps do not average
gradients over ranks): both are refused before training (`check_update_supported`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from wgangp.errors import UserInputError

UPDATES = ("alternating", "simultaneous", "extragradient", "optimistic")
PREVIOUS_STEP = "optimistic_previous_step"  # optimizer state key of the optimistic rule's d_{t-1}

# Both players' gradients at the current parameters, one list per player, in the players' order.
Gradients = Callable[[], list[list[Tensor | None]]]


def _nothing() -> None:
    pass


@dataclass
class Player:
    """One player: its optimizer (Lightning's wrapper where its step must count) and a projection run
    after every change of its parameters (the WGAN's weight clipping)."""

    optimizer: torch.optim.Optimizer
    project: Callable[[], None] = _nothing
    params: list[Tensor] = field(init=False)

    def __post_init__(self) -> None:
        self.params = [p for group in bare(self.optimizer).param_groups for p in group["params"]]


def bare(opt) -> torch.optim.Optimizer:
    """The torch optimizer inside Lightning's LightningOptimizer wrapper (whose step advances global_step)."""
    return getattr(opt, "optimizer", opt)


def _step(player: Player, grads: Sequence[Tensor | None], counted: bool = True, project: bool = True) -> None:
    for p, g in zip(player.params, grads, strict=True):
        p.grad = g
    (player.optimizer if counted else bare(player.optimizer)).step()
    for p in player.params:
        p.grad = None
    if project:
        player.project()
    torch.clear_autocast_cache()  # weights changed inside an autocast region (see objectives.engine.weights_changed)


def alternating(players: Sequence[Player], gradients: Gradients) -> None:
    """Each player in turn steps on its gradient at the point the players before it have just moved to."""
    for i, player in enumerate(players):
        _step(player, gradients()[i])


def simultaneous(players: Sequence[Player], gradients: Gradients) -> None:
    """Every player steps on its gradient at the current point: z <- z - eta F(z)."""
    for player, grads in zip(players, gradients(), strict=True):
        _step(player, grads)


def _snapshot(opt: torch.optim.Optimizer) -> dict:
    def copy_of(v):
        return v.clone() if torch.is_tensor(v) else copy.deepcopy(v)

    return {p: {k: copy_of(v) for k, v in s.items()} for p, s in opt.state.items()}


def extragradient(players: Sequence[Player], gradients: Gradients) -> None:
    """Predictive step to z~ = z - eta F(z), then z <- z - eta F(z~) from the saved z (the notes' two steps)."""
    saved = [([p.detach().clone() for p in pl.params], _snapshot(bare(pl.optimizer))) for pl in players]
    for player, grads in zip(players, gradients(), strict=True):
        _step(player, grads, counted=False)  # the half point; projected, so it stays feasible
    half = gradients()
    for player, (params, state) in zip(players, saved, strict=True):
        with torch.no_grad():
            for p, p0 in zip(player.params, params, strict=True):
                p.copy_(p0)
        opt = bare(player.optimizer)
        opt.state.clear()
        opt.state.update(state)  # the extrapolation leaves no trace in the optimizer
    for player, grads in zip(players, half, strict=True):
        _step(player, grads)


def optimistic(players: Sequence[Player], gradients: Gradients) -> None:
    """theta <- theta + 2 d_t - d_{t-1}, d_t the optimizer's step from g_t (Daskalakis et al. 2018)."""
    for player, grads in zip(players, gradients(), strict=True):
        before = [p.detach().clone() for p in player.params]
        _step(player, grads, project=False)  # theta + d_t
        state = bare(player.optimizer).state
        with torch.no_grad():
            for p, p0 in zip(player.params, before, strict=True):
                step = p - p0  # d_t
                p.add_(step - state[p].get(PREVIOUS_STEP, step))  # + d_t - d_{t-1}
                state[p][PREVIOUS_STEP] = step
        player.project()
        torch.clear_autocast_cache()


RULES: dict[str, Callable[[Sequence[Player], Gradients], None]] = {
    "alternating": alternating,
    "simultaneous": simultaneous,
    "extragradient": extragradient,
    "optimistic": optimistic,
}


def check_update_supported(update: str, trainer) -> None:
    """Refuse, before training, what the joint rules do not support: 16-mixed and DDP."""
    if update == "alternating" or trainer is None:
        return
    if getattr(getattr(trainer.precision_plugin, "scaler", None), "is_enabled", lambda: False)():
        raise UserInputError(
            f"objective.update={update} does not support trainer.precision=16-mixed: its gradients are taken "
            "outside the fp16 loss scaler. Use trainer.precision=bf16-mixed or 32, or objective.update=alternating."
        )
    if trainer.world_size > 1:
        raise UserInputError(
            f"objective.update={update} does not support trainer=ddp (the joint steps do not average gradients "
            "over ranks): train on one device, or use objective.update=alternating."
        )
