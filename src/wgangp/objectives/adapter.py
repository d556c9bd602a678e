"""The Lightning-specific workarounds of the loop, in one place: what the engine's steps need from a trainer.

The engine (wgangp.objectives.engine) steps two players by hand; Lightning's automatic machinery covers one
optimizer. So, as functions of the objective's trainer (None for a bare loop: the bench, the Fig. 1 figures):
- the fp16 loss scaler: the critic's optimizer is stepped bare, so its scaler step is taken here
  (`player_step`), and a penalty's inner autograd.grad is scaled like the loss (`penalty_grad_scale`);
- the two-player DDP strategy (wgangp.strategies.GANDDPStrategy): gradients averaged per player after each
  backward, rank 0's batch-norm statistics broadcast after each generator step, and the global-batch draws that
  keep one random stream whatever the number of ranks (`per_rank`);
- the optimizers Lightning restores from a checkpoint before training, whose hyperparameters are replaced by
  the configured ones (`reapply_configured_hyperparameters`, from on_train_start; callback order: this runs
  after restore and before the first step).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor, nn

from wgangp.strategies import GANDDPStrategy

log = logging.getLogger("wgangp")


def grad_scaler(trainer) -> torch.amp.GradScaler | None:
    """The fp16 loss scaler of trainer.precision=16-mixed; None in fp32 and bf16 (which need none), or bare."""
    plugin = trainer.precision_plugin if trainer is not None else None
    scaler = getattr(plugin, "scaler", None)
    return scaler if scaler is not None and scaler.is_enabled() else None


def penalty_grad_scale(trainer, device: torch.device) -> Tensor | None:
    """The current fp16 loss scale, a 0-d tensor (no host sync), for a penalty's inner autograd.grad
    (see wgangp.penalties.squared_gradient_norms); None unless training in 16-mixed."""
    scaler = grad_scaler(trainer)
    return None if scaler is None else scaler.scale(torch.ones((), device=device))


def _ddp(trainer) -> GANDDPStrategy | None:
    strategy = trainer.strategy if trainer is not None else None
    return strategy if isinstance(strategy, GANDDPStrategy) else None


def player_step(module, opt: torch.optim.Optimizer, loss: Tensor, player: nn.Module) -> None:
    """Backward of `loss`, then one step of `player` (under trainer=ddp its gradients averaged over ranks).

    `opt` is Lightning's wrapper for the generator (its step advances global_step) and the bare optimizer for the
    critic. The bare step does what the wrapper's precision plugin would: under 16-mixed, the scaler unscales,
    skips a step with non-finite gradients and updates its scale.
    """
    trainer = module._trainer
    opt.zero_grad(set_to_none=True)
    if trainer is not None:
        module.manual_backward(loss)  # lets Lightning apply precision plugins (loss scaling)
    else:
        loss.backward()
    ddp = _ddp(trainer)
    if ddp is not None:
        ddp.average_gradients(player)
    scaler = grad_scaler(trainer)
    if scaler is None or isinstance(opt, LightningOptimizer):
        opt.step()
    else:
        scaler.step(opt)
        scaler.update()


def broadcast_buffers(module) -> None:
    """Under trainer=ddp: rank 0's batch norm running statistics to every rank, as DDP keeps them."""
    ddp = _ddp(module._trainer)
    if ddp is not None:
        ddp.broadcast_buffers(module)


def per_rank(trainer, draw: Callable[[int], Tensor], n: int) -> Tensor:
    """Draw the global batch and keep this rank's slice, so DDP sees one process's stream."""
    world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
    if world == 1:
        return draw(n)
    return draw(n * world)[rank * n : (rank + 1) * n]


def reapply_configured_hyperparameters(
    restored: Sequence[torch.optim.Optimizer], configured: Sequence[torch.optim.Optimizer]
) -> None:
    """Train with the configured optimizer hyperparameters, also after a resume.

    Lightning restores the checkpoint's optimizer states (moments and param_groups) before training starts, which
    would bring back the checkpoint's lr, betas, weight decay ...; the run config records this run's. So every
    hyperparameter of freshly configured optimizers (on the same parameters) replaces the restored one, and a
    change is logged. The configured lr is also kept as `initial_lr`, the base of objective.lr_decay's schedule,
    which then sets the lr of the resumed iteration (a scheduled lr in the checkpoint is not a change). A no-op on
    a fresh run without a schedule.
    """
    for name, opt, fresh in zip(("generator", "critic"), restored, configured, strict=True):
        for group, wanted in zip(opt.param_groups, fresh.param_groups, strict=True):
            for key, value in wanted.items():
                if key == "params":
                    continue
                before = group.get("initial_lr", group.get(key)) if key == "lr" else group.get(key)
                if before != value:
                    log.info("%s optimizer: %s %s from the checkpoint -> %s as configured", name, key, before, value)
                group[key] = value
            group["initial_lr"] = wanted["lr"]
