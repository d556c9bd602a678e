"""The one implementation of a generator iteration: Alg. 1's alternating loop and the joint update rules.

Every caller runs a step through here: the Lightning module (GANObjective.training_step), a bare loop around
`train_iteration` (the bench, the Fig. 1 experiments), the memory dry run (wgangp.memory) and the reference
comparison tests. An objective supplies only its losses over a `Step` (wgangp.objectives.step),
`critic_loss(s)` and `generator_loss(s)`; the engine turns them into

    critic_terms(objective, real, fake, rng, labels)  -> {"critic_loss": ..., other terms}   one critic step's
    generator_terms(objective, real, z, rng, labels)  -> {"generator_loss": ..., ...}        the generator step's

and owns what surrounds them: the draws of z, epsilon and fake labels from the step's stream, no
generator graph in critic steps, the critic frozen in the generator step, feature matching
(`objective.generator_loss=feature_matching`), the optimizer steps and the projection after each critic step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from wgangp.losses import feature_matching_loss
from wgangp.objectives.step import Step
from wgangp.objectives.updates import RULES, Player

# objective.generator_loss: the objective's own generator loss, or feature matching (Salimans et al. 2016)
GENERATOR_LOSSES = ("default", "feature_matching")

if TYPE_CHECKING:
    from wgangp.objectives.base import GANObjective


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Stop gradients to `module`'s parameters inside the block (the critic during a generator step)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def weights_changed() -> None:
    """Call after changing weights in place (an optimizer step, clipping) inside one autocast region.

    A generator iteration's n_critic + 1 optimizer steps run inside one autocast region. Lightning's region
    disables autocast's weight cache, but a plain `torch.autocast` (a user's own loop around `train_iteration`,
    the bench's bare loop) keeps its low-precision copies of the weights until the region ends, so every forward
    after the first step would run on the iteration's initial weights.
    """
    torch.clear_autocast_cache()  # a no-op outside autocast


def _named(terms: dict[str, Tensor], name: str) -> dict[str, Tensor]:
    """An objective's terms with its "loss" under `name` (critic_loss, generator_loss), first."""
    if "loss" not in terms:
        raise KeyError(f"a loss must return its value to minimise under 'loss'; got {sorted(terms)}")
    return {name: terms["loss"], **{k: v for k, v in terms.items() if k != "loss"}}


def critic_terms(
    objective: GANObjective,
    real: Tensor,
    fake: Tensor,
    rng: torch.Generator,
    labels: Tensor | None = None,
    penalty_scale: float = 1.0,
) -> dict[str, Tensor]:
    """The loss terms of one critic step on a real and a fake batch (Alg. 1 l.4-7); "critic_loss" is minimised.
    `labels` (m,): the class of each real sample and of its paired fake (conditional runs), else None.
    `penalty_scale`: the weight of this step's penalties (GANObjective.penalty_scale; lazy regularisation)."""
    step = Step(objective, real, fake, labels, rng, of_critic=True, penalty_scale=penalty_scale)
    terms = _named(objective.critic_loss(step), "critic_loss")
    d_real = step.real_scores()
    if d_real is not None:  # ADA's heuristic counts the signs of D on the (augmented) reals
        objective.view.observe_scores(d_real, step.fake_scores())
    return terms


def generator_terms(
    objective: GANObjective,
    real: Tensor,
    z: Tensor,
    rng: torch.Generator | None = None,
    labels: Tensor | None = None,
) -> dict[str, Tensor]:
    """The loss terms of the generator step on latents z (and fake labels), the caller having frozen the critic
    (Alg. 1 l.11-12): the objective's generator loss over G(z), or with objective.generator_loss=feature_matching
    ||E f(real) - E f(G(z))||^2 on the critic's features (Salimans et al. 2016; `real` is the last real batch)."""
    if objective.generator_loss_mode == "feature_matching":
        layer = objective.feature_layer
        view = objective.view  # the critic's features of what it sees (objective.augment)
        with torch.no_grad():
            real_features = objective.critic.features(view(real), layer)  # (m, F), before the fakes' (batch norm)
        fake_features = objective.critic.features(view(objective.generate(z, labels)), layer)
        return {"generator_loss": feature_matching_loss(real_features, fake_features)}
    fake = objective.generate(z, labels)
    step = Step(objective, real, fake, labels, rng, of_critic=False, z=z)
    return _named(objective.generator_loss(step), "generator_loss")


def critic_step(
    objective: GANObjective,
    real: Tensor,
    fake: Tensor,
    opt_d: torch.optim.Optimizer,
    rng: torch.Generator,
    labels: Tensor | None = None,
    penalty_scale: float = 1.0,
) -> dict[str, Tensor]:
    """One critic update (Alg. 1 l.6-9), then the objective's projection (weight clipping); returns its terms."""
    terms = critic_terms(objective, real, fake, rng, labels, penalty_scale)  # l.6-7
    objective.player_step(opt_d, terms["critic_loss"], objective.critic)  # l.9
    objective.after_critic_step()
    weights_changed()
    return terms


def train_iteration(
    objective: GANObjective,
    real: Tensor,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    rng: torch.Generator,
    labels: Tensor | None = None,
) -> dict[str, Tensor]:
    """One generator iteration of Alg. 1 on real batches (n_critic, m, *data_shape).

    `labels` (n_critic, m) int64: the real batches' classes in a class-conditional run (else None). Each critic
    step generates its fakes with the real batch's labels, so every real/fake pair and its interpolate share one
    class (the released gan_cifar_resnet.py); the generator step draws its labels uniformly from `rng`, the
    step's own stream, so a resumed run draws the same ones. Under objective.update other than alternating, the
    joint rules of wgangp.objectives.updates take the last critic step and the generator step together.

    Returns the detached loss terms: critic terms averaged over the n_critic steps, and the generator terms.
    """
    if real.size(0) != objective.n_critic:
        raise ValueError(
            f"the batch holds {real.size(0)} real batches but n_critic={objective.n_critic}: the data module must "
            "deliver one fresh real batch per critic step (conf/train.yaml: data.batches_per_step)"
        )
    objective.view.start_iteration(objective.generator_iter, real.device)  # objective.augment's draws
    if objective.update != "alternating":  # simultaneous | extragradient | optimistic
        return joint_train_iteration(objective, real, opt_g, opt_d, rng)
    m = real.size(1)
    mean = _StepMean()
    for t in range(objective.n_critic):  # Alg. 1 l.2
        z = objective.sample_latent(m, rng)  # l.4: fresh z for every critic step
        y = None if labels is None else labels[t]  # (m,)
        with torch.no_grad():
            fake = objective.generate(z, y)  # l.5; no generator graph in critic steps
        mean.add(critic_step(objective, real[t], fake, opt_d, rng, y, objective.penalty_scale(t)))  # l.6-9
    out = mean.result()

    z = objective.sample_latent(objective.generator_batch_size or m, rng)  # l.11
    y = None if labels is None else objective.sample_labels(z.size(0), rng)  # after z: unconditional draws unchanged
    with frozen(objective.critic):  # the generator step needs no critic weight gradients
        g_terms = generator_terms(objective, real[-1], z, rng, y)
    objective.player_step(opt_g, g_terms["generator_loss"], objective.generator)  # l.12
    weights_changed()
    objective.after_generator_step()
    out.update({k: v.detach() for k, v in g_terms.items()})
    return {**out, **objective.view.logged()}


class _StepMean:
    """The mean of each logged term over the critic steps that returned it (a lazily regularised step returns no
    gradient norms)."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, terms: dict[str, Tensor]) -> None:
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + v.detach()
            self.counts[k] = self.counts.get(k, 0) + 1

    def result(self) -> dict[str, Tensor]:
        return {k: v / self.counts[k] for k, v in self.sums.items()}


def joint_train_iteration(
    objective: GANObjective, real: Tensor, opt_g, opt_d, rng: torch.Generator
) -> dict[str, Tensor]:
    """One generator iteration under update simultaneous | extragradient | optimistic: n_critic - 1 plain critic
    steps, then one joint step of both players on the last real batch (wgangp.objectives.updates). Returns the
    detached loss terms: critic terms averaged over the n_critic critic steps (the joint step's taken at its
    starting point), and the generator terms there. Unconditional runs only (refused before training otherwise)."""
    n, m = objective.n_critic, real.size(1)
    mean = _StepMean()
    for t in range(n - 1):  # Alg. 1 l.2-10 for all but the last critic step
        z = objective.sample_latent(m, rng)
        with torch.no_grad():
            fake = objective.generate(z)
        mean.add(critic_step(objective, real[t], fake, opt_d, rng, None, objective.penalty_scale(t)))
    # the generator's own batch where one is set (gan_cifar_resnet.py: GEN_BS_MULTIPLE), as Alg. 1's loop
    z_critic, z_generator = (
        objective.sample_latent(m, rng),
        objective.sample_latent(objective.generator_batch_size or m, rng),
    )
    players = [Player(opt_d, objective.after_critic_step), Player(opt_g)]
    start, view_start = rng.get_state(), objective.view.rng_state()
    evaluated: list[tuple[dict[str, Tensor], dict[str, Tensor]]] = []

    def gradients() -> list[list[Tensor | None]]:
        rng.set_state(start)  # every evaluation draws the same epsilons: one minibatch game per iteration
        objective.view.set_rng_state(view_start)  # and sees the same augmentations
        with torch.no_grad():
            fake = objective.generate(z_critic)
        c_terms = critic_terms(objective, real[-1], fake, rng, None, objective.penalty_scale(n - 1))
        # allow_unused: a parameter outside this loss's graph gets no gradient, and the optimizer skips it
        grads_d = torch.autograd.grad(c_terms["critic_loss"], players[0].params, allow_unused=True)
        with frozen(objective.critic):
            g_terms = generator_terms(objective, real[-1], z_generator, rng)
        grads_g = torch.autograd.grad(g_terms["generator_loss"], players[1].params, allow_unused=True)
        evaluated.append((c_terms, g_terms))
        return [list(grads_d), list(grads_g)]

    RULES[objective.update](players, gradients)
    c_terms, g_terms = evaluated[0]  # at the joint step's starting point
    mean.add(c_terms)
    out = mean.result()
    out.update({k: v.detach() for k, v in g_terms.items()})
    return {**out, **objective.view.logged()}
