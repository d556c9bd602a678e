"""The Lightning side of every objective: the thin base an objective's class subclasses.

A subclass is its loss and nothing else: `critic_loss(s)` and `generator_loss(s)` over a step
(wgangp.objectives.step), and optionally `after_critic_step` (a projection such as weight clipping). Its config
fields are its constructor's typed keyword arguments beside the loop's (wgangp.objectives.schema).

The step itself, Alg. 1's loop and the joint update rules, is wgangp.objectives.engine; the Lightning workarounds
(fp16 scaler steps, the two-player DDP strategy, optimizer state after a restore) are wgangp.objectives.adapter;
the NaN guard wgangp.objectives.guard; the lr schedule wgangp.schedules; the weight average wgangp.ema. This base
holds the run's settings and wires those to Lightning's hooks: training_step, logging and checkpoint state.
One training_step is one generator iteration: n_critic critic steps, then one generator
step. Only the generator's step goes through Lightning's optimizer wrapper, so `trainer.global_step`
counts generator iterations, the paper's unit: `max_steps == generator_iters`, and stock callbacks
(`ModelCheckpoint(every_n_train_steps=N)`, `LearningRateMonitor`, step-interval schedulers) run in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from wgangp.augment import DEFAULT_POLICY
from wgangp.checkpoints import CHECKPOINT_FORMAT
from wgangp.ema import averaged_generator, update_ema
from wgangp.errors import UserInputError
from wgangp.nets.conditional import needs_labels, takes_labels, uniform_labels
from wgangp.nets.layers import check_feature_layer
from wgangp.objectives import adapter, engine
from wgangp.objectives.guard import NonFiniteGuard
from wgangp.objectives.step import Step
from wgangp.objectives.updates import check_update_supported
from wgangp.objectives.view import CriticView
from wgangp.rng import NOISE, global_rng_states, set_global_rng_states, step_generator
from wgangp.schedules import apply_lr_schedule, lr_factor

OptimizerFactory = Callable[..., torch.optim.Optimizer]


def batch_labels(batch: dict[str, Tensor], objective: GANObjective) -> Tensor:
    """The real batches' labels (n_critic, m) for a class-conditional objective; wgangp.build refuses
    unlabelled data before training, so a missing key here is a data module that lost them."""
    if "label" not in batch:
        raise RuntimeError(f"{type(objective).__name__} needs labels but the data batches carry none")
    return batch["label"]


class GANObjective(L.LightningModule):
    """Base LightningModule: Alg. 1's loop with manual optimization.

    Args:
        generator: maps (N, latent_dim) to (N, *data_shape); exposes `latent_dim` and `data_shape`.
        critic: maps (N, *data_shape) to (N,) or (N, 1) scores.
        optimizer: a partial optimizer (Hydra `_partial_: true`) applied to both players.
        n_critic: critic steps per generator iteration (Alg. 1 l.2).
        generator_optimizer: optional separate partial optimizer for the generator.
        critic_weight_decay: L2 weight decay on the critic (App. B uses 1e-3 with a normalised critic).
        seed: root of the per-step random streams (see wgangp.rng).
        lr_decay: "none", or "linear": both players' configured lr times max(0, 1 - it / lr_decay_iters) at
            generator iteration it (App. F; wgangp.schedules).
        lr_decay_iters: the schedule's length in generator iterations (conf/train.yaml: generator_iters).
        generator_batch_size: z drawn per generator step, per device; None: the critic's batch m
            (the released gan_cifar_resnet.py uses 2m, GEN_BS_MULTIPLE).
        generator_ema: decay of an exponential moving average of the generator's weights (`ema_generator`,
            scored beside the raw generator as val/ema/...); None: no average (wgangp.ema).
        generator_ema_start: up to this generator iteration the average copies the generator; it averages after.
        update: how the players move: alternating (Alg. 1's loop, below) | simultaneous | extragradient |
            optimistic (wgangp.objectives.updates, which also says how they combine with n_critic).
        generator_loss: default (the objective's own) | feature_matching (Salimans et al. 2016: the squared
            distance between the mean critic features of a real and a generated batch; the critic's
            `features`, its penultimate layer), for objectives whose critic is a classifier.
        feature_layer: which critic layer feature matching reads: k counts the trunk's layers from the input
            (1-based; negative from the last), None the last (the penultimate layer); toy_mlp, mlp and dcgan.
        penalty_every: lazy regularisation (StyleGAN2): every penalty on every k-th critic step only, weighted by k
            (`penalty_scale`); 1 (Alg. 1) penalises every step.
        augment: what the critic sees in both players' steps: none | diffaugment | ada (wgangp.objectives.view).
        augment_policy: the transforms (wgangp.augment: color, translation, cutout, or a part of color).
        ada_target, ada_kimg: ADA's target E[sign D(real)] and how many thousand reals p takes to cross [0, 1].

    The ranges of these and of every subclass's fields are checked in one place, on the composed
    config, before anything is built (wgangp.config_checks).
    """

    # True where the critic loss differentiates D w.r.t. its input per sample (gradient penalties,
    # R1): such a critic must not use batch norm (Sec. 4); the model build swaps in layer norm.
    uses_gradient_penalty: bool = False
    # False where the generator must minimise the objective's own distance estimate (the WGANs).
    supports_feature_matching: bool = True

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        optimizer: OptimizerFactory,
        n_critic: int = 5,
        generator_optimizer: OptimizerFactory | None = None,
        critic_weight_decay: float = 0.0,
        seed: int = 0,
        lr_decay: str = "none",
        lr_decay_iters: int | None = None,
        generator_batch_size: int | None = None,
        generator_ema: float | None = None,
        generator_ema_start: int = 0,
        update: str = "alternating",
        generator_loss: str = "default",
        feature_layer: int | None = None,
        penalty_every: int = 1,
        augment: str = "none",
        augment_policy: str = DEFAULT_POLICY,
        ada_target: float = 0.6,
        ada_kimg: float = 500.0,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.critic = critic
        self.optimizer_factory = optimizer
        self.generator_optimizer_factory = generator_optimizer or optimizer
        self.n_critic = int(n_critic)
        self.critic_weight_decay = float(critic_weight_decay)
        self.seed = int(seed)
        self.lr_decay, self.lr_decay_iters = lr_decay, lr_decay_iters
        lr_factor(lr_decay, 0, lr_decay_iters)  # an unknown schedule or a missing length fails here, not mid-run
        self.generator_batch_size = None if generator_batch_size is None else int(generator_batch_size)
        self.generator_ema_start = int(generator_ema_start)
        # An AveragedModel of the generator, in the state_dict, so checkpoints keep it and a resume continues it
        self.ema_generator = None if generator_ema is None else averaged_generator(generator, float(generator_ema))
        self.update = update
        self.generator_loss_mode = generator_loss  # default | feature_matching (wgangp.objectives.engine)
        # D(real) and D(fake) of a critic step in one forward over cat(real, fake): only a penalised critic, which
        # has no batch norm (Sec. 4), scores each sample on its own (wgangp.objectives.step; `make bench` undoes it)
        self.joint_critic_forward = self.uses_gradient_penalty
        self.feature_layer = None if feature_layer is None else int(feature_layer)
        self.penalty_every = int(penalty_every)
        self.view = CriticView(augment, augment_policy, seed, ada_target, ada_kimg)  # what the critic sees
        if augment == "ada" and update != "alternating":
            raise ValueError(
                f"objective.augment=ada counts D's signs once per critic step, which objective.update={update} "
                "evaluates more than once: use objective.update=alternating, or objective.augment=diffaugment"
            )
        if self.view.active and len(generator.data_shape) != 3:
            raise ValueError(
                f"objective.augment={augment} augments images (C, H, W), but this data's samples have shape "
                f"{tuple(generator.data_shape)}: use objective.augment=none with toy or text data"
            )
        if generator_loss == "feature_matching":
            self._check_feature_matching()
        elif self.feature_layer is not None:
            fix = (
                "add objective.generator_loss=feature_matching, or drop objective.feature_layer"
                if self.supports_feature_matching
                else f"{type(self).__name__} does not train with feature matching, so drop objective.feature_layer"
            )
            raise ValueError(f"objective.feature_layer={feature_layer} is read by feature matching only: {fix}")
        # The resolved run configuration (set by wgangp.build.build), stored in checkpoints so a
        # generator can be rebuilt from its checkpoint alone (wgangp.sample).
        self.run_config: dict | None = None
        self._bare_generator_iter = 0  # generator_iter of a loop driving train_iteration without a trainer
        self.nan_guard = NonFiniteGuard()  # the first generator iteration with a non-finite loss term
        # Class-conditional runs (wgangp.nets.conditional): labels flow through the loop when a net or the
        # objective needs them; None keeps every unconditional path as it was.
        self.uses_labels = needs_labels(self) or needs_labels(generator) or needs_labels(critic)
        self.num_classes: int | None = getattr(generator, "num_classes", getattr(critic, "num_classes", None))
        if self.uses_labels and self.update != "alternating":
            raise ValueError(
                f"objective.update={self.update} is not available for a class-conditional run: the joint update "
                "rules (wgangp.objectives.updates) do not carry labels yet. Use objective.update=alternating (Alg. 1)."
            )

    # ---- what a subclass defines: its losses over one step (wgangp.objectives.step) --------------
    def critic_loss(self, s: Step) -> dict[str, Tensor]:
        """The terms of one critic step; "loss" is minimised, the others are logged as train/<name>. Read D(real),
        D(fake), the penalties and the step's random stream from `s`."""
        raise NotImplementedError(
            f"{type(self).__name__} defines no critic_loss(s): an objective writes critic_loss(s) and "
            "generator_loss(s) over a wgangp.objectives.step.Step (docs/architecture.md, Adding an objective)"
        )

    def generator_loss(self, s: Step) -> dict[str, Tensor]:
        """The terms of the generator step over its fakes `s.fake` = G(z) (the critic frozen); "loss" is minimised."""
        raise NotImplementedError(
            f"{type(self).__name__} defines no generator_loss(s): an objective writes critic_loss(s) and "
            "generator_loss(s) over a wgangp.objectives.step.Step (docs/architecture.md, Adding an objective)"
        )

    def after_critic_step(self) -> None:
        """Called after every critic optimizer step (weight clipping hooks in here)."""

    # ---- what the losses and the engine use -----------------------------------------------------
    def critic_given(self, labels: Tensor | None) -> Callable[[Tensor], Tensor]:
        """The critic as a function of x alone: D(., y) with each sample's label y fixed for a critic that
        takes labels (so a penalty's gradient is w.r.t. x at fixed y), else the critic itself."""
        if labels is None or not takes_labels(self.critic):
            return self.critic
        return lambda x: self.critic(x, labels)

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """G(z), or G(z, y) for a class-conditional generator."""
        return self.generator(z, labels) if takes_labels(self.generator) else self.generator(z)

    def sample_labels(self, n: int, rng: torch.Generator) -> Tensor:
        """Fake labels of the generator step, uniform over the classes (the released gan_cifar_resnet.py), (n,)."""
        return self._per_rank(lambda k: uniform_labels(k, self.num_classes, rng, self.device), n)

    def _check_feature_matching(self) -> None:
        name = type(self).__name__
        if not self.supports_feature_matching:
            raise ValueError(
                f"objective.generator_loss=feature_matching is not available for {name}: its generator minimises "
                "the critic's Wasserstein estimate -E[D(G(z))], and matching critic features would drop the "
                "distance the method is about. Feature matching (Salimans et al. 2016) is for the discriminator "
                "objectives: dcgan, lsgan, hinge, gan_gp, r1."
            )
        if not hasattr(self.critic, "features"):
            raise ValueError(
                f"objective.generator_loss=feature_matching needs a critic with features() (its penultimate "
                f"layer); {type(self.critic).__name__} has none. Use model=toy_mlp, mlp or dcgan."
            )
        if self.feature_layer is not None:  # fails here, before training, with the critic's range
            if not hasattr(self.critic, "feature_boundaries"):
                raise ValueError(
                    f"objective.feature_layer={self.feature_layer}: {type(self.critic).__name__} offers its last "
                    "features only; use objective.feature_layer=null, or model=toy_mlp, mlp or dcgan"
                )
            check_feature_layer(self.feature_layer, len(self.critic.feature_boundaries), type(self.critic).__name__)

    # ---- the loop ----------------------------------------------------------------------------
    @property
    def generator_iter(self) -> int:
        """Completed generator iterations: Lightning's `global_step` under a trainer; a bare loop around
        `train_iteration` (the bench, the Fig. 1 experiments) advances it by assignment."""
        return self._trainer.global_step if self._trainer is not None else self._bare_generator_iter

    @generator_iter.setter
    def generator_iter(self, value: int) -> None:
        if self._trainer is not None:
            raise RuntimeError("under a trainer, generator_iter is trainer.global_step; it cannot be set")
        self._bare_generator_iter = int(value)

    @property
    def latent_dim(self) -> int:
        return int(self.generator.latent_dim)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        opt_g = self.generator_optimizer_factory(self.generator.parameters())
        critic_kwargs = {"weight_decay": self.critic_weight_decay} if self.critic_weight_decay else {}
        opt_d = self.optimizer_factory(self.critic.parameters(), **critic_kwargs)
        return [opt_g, opt_d]

    def _per_rank(self, draw: Callable[[int], Tensor], n: int) -> Tensor:
        return adapter.per_rank(self._trainer, draw, n)

    def penalty_scale(self, t: int) -> float:
        """The weight of every penalty in critic step t of this generator iteration (objective.penalty_every = k):
        1 for Alg. 1 (k = 1); lazily (StyleGAN2, Karras et al. 2020), k on every k-th critic step of the run and 0
        (not computed) on the others, so the penalty's expectation over steps is unchanged."""
        k = self.penalty_every
        if k == 1:
            return 1.0
        return float(k) if (self.generator_iter * self.n_critic + t) % k == 0 else 0.0

    def sample_latent(self, n: int, rng: torch.Generator) -> Tensor:
        """z ~ N(0, I), shape (n, latent_dim)."""
        return self._per_rank(lambda k: torch.randn(k, self.latent_dim, generator=rng, device=self.device), n)

    def sample_uniform(self, n: int, rng: torch.Generator) -> Tensor:
        """One U[0, 1] draw per sample, shape (n,) (the epsilon of Alg. 1 l.4)."""
        return self._per_rank(lambda k: torch.rand(k, generator=rng, device=self.device), n)

    def player_step(self, opt: torch.optim.Optimizer, loss: Tensor, player: nn.Module) -> None:
        """Backward of `loss`, one step of `player`: with the trainer's fp16 scaler and DDP (objectives.adapter)."""
        adapter.player_step(self, opt, loss, player)

    def penalty_grad_scale(self) -> Tensor | None:
        """fp16's loss scale for a penalty's inner autograd.grad; None unless training in 16-mixed."""
        return adapter.penalty_grad_scale(self._trainer, self.device)

    def train_iteration(
        self,
        real: Tensor,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        rng: torch.Generator,
        labels: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """One generator iteration of Alg. 1 on real batches (n_critic, m, *data_shape): the engine's
        (wgangp.objectives.engine.train_iteration), also for a bare loop without a trainer."""
        return engine.train_iteration(self, real, opt_g, opt_d, rng, labels)

    def after_generator_step(self) -> None:
        adapter.broadcast_buffers(self)

    def step_rng(self) -> torch.Generator:
        """The noise stream of the current generator iteration (z and epsilon draws)."""
        return step_generator(self.seed, self.generator_iter, NOISE, self.device)

    def apply_lr_schedule(self) -> None:
        """Both optimizers' lr for the current generator iteration (objective.lr_decay; wgangp.schedules)."""
        apply_lr_schedule(
            self.optimizers(use_pl_optimizer=False), self.lr_decay, self.generator_iter, self.lr_decay_iters
        )

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        self.apply_lr_schedule()  # stateless in the iteration, so exact on resume
        # One step counter: only the generator's step goes through Lightning's wrapper (see the module doc).
        labels = batch_labels(batch, self) if self.uses_labels else None  # (n_critic, m) or None
        terms = self.train_iteration(batch["real"], opt_g, opt_d.optimizer, self.step_rng(), labels)
        if self.ema_generator is not None:  # after the step, before callbacks evaluate or checkpoint it
            update_ema(self.ema_generator, self.generator, self.generator_iter, self.generator_ema_start)
        self._track_finite(terms)
        # Host syncs (the finiteness check, logging) happen every trainer.log_every_n_steps generator
        # iterations only, except on the CPU, where a sync costs nothing and the guard stops at once.
        every = self.trainer.log_every_n_steps
        log_now = bool(every) and self.generator_iter % every == 0
        if log_now or self.device.type == "cpu":
            self.check_finite()
        if log_now:
            self.log_metrics({**{f"train/{k}": v for k, v in terms.items()}, "train/lr": opt_g.param_groups[0]["lr"]})
            if "w_estimate" in terms:
                self.log("w_est", terms["w_estimate"], prog_bar=True, logger=False, on_step=True)

    # ---- NaN guard (wgangp.objectives.guard) ----------------------------------------------------
    def _track_finite(self, terms: dict[str, Tensor]) -> None:
        self.nan_guard.track(terms, self.generator_iter, self.penalty_grad_scale())

    def check_finite(self) -> None:
        """Raise NonFiniteError naming the first bad iteration and terms (called before every checkpoint)."""
        self.nan_guard.check()

    def log_metrics(self, metrics: dict[str, Tensor | float]) -> None:
        """Write metrics to every logger at step = completed generator iterations."""
        values = {k: float(v) for k, v in metrics.items()}
        for logger in self.loggers:
            logger.log_metrics(values, step=self.generator_iter)

    # ---- checkpoint state --------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["wgangp"] = {
            "format": CHECKPOINT_FORMAT,
            "generator_iter": self.generator_iter,
            "data_shape": list(self.generator.data_shape),
            "run_config": self.run_config,
            "rng_states": global_rng_states(),
            "critic_view": self.view.state_dict(),  # ADA's p (objective.augment=ada)
        }

    def on_fit_start(self) -> None:
        check_update_supported(self.update, self._trainer)  # fp16 and DDP: refused before any step
        if self.view.active and self._trainer is not None and self._trainer.world_size > 1:
            raise UserInputError(
                f"objective.augment={self.view.mode} under trainer=ddp is not supported yet: every rank would draw the "
                "same augmentations and ADA's p would follow each rank's own scores. Train on one device, or use "
                "objective.augment=none."
            )

    def on_train_start(self) -> None:
        """Train with the configured optimizer hyperparameters, also after a resume (wgangp.objectives.adapter)."""
        restored = self.optimizers(use_pl_optimizer=False)
        adapter.reapply_configured_hyperparameters(restored, self.configure_optimizers())
        self.apply_lr_schedule()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        info = checkpoint.get("wgangp")
        if info is None:
            raise ValueError("this checkpoint was not written by wgangp (it has no 'wgangp' section)")
        # generator_iter is Lightning's global_step, restored by Lightning with its loops' state
        set_global_rng_states(info["rng_states"])
        self.view.load_state_dict(info.get("critic_view", {}))
