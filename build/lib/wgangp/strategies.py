"""Multi-device training of the two-player loop: `trainer=ddp`.

Lightning's DDPStrategy wraps the whole LightningModule in one DistributedDataParallel. Its reducer
expects one backward per forward and a gradient for every parameter that requires one, but one
training_step here runs n_critic + 1 backward passes (plus the penalty's double backward) and each
leaves the other player's parameters without a gradient: the critic steps never touch the
generator, the generator step freezes the critic. That only runs with find_unused_parameters=True,
which walks the autograd graph after every backward to find them, and still reduces both players.

GANDDPStrategy keeps the module unwrapped and does what DDP would do, per player: every rank starts
from rank 0's parameters and buffers, and before each optimizer step the objective averages the
gradients of the player that steps (one all-reduce of one flat buffer). Each rank computes its own
slice of the batch and its own gradient penalty (the penalty is per sample, so the average over
ranks is the penalty of the global batch). With the loop's global-batch draws (GANObjective._per_rank,
StepSampler) N processes with batch m train exactly as one process with batch N * m, up to float
summation order and batch norm statistics (per rank, as under DDP without SyncBatchNorm).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy
from torch import nn


class GANDDPStrategy(DDPStrategy):
    """DDP without the DistributedDataParallel wrapper: the objective averages each player's gradients.

    Takes DDPStrategy's arguments (process_group_backend, start_method, timeout, ...); DDP-wrapper
    arguments such as find_unused_parameters have nothing to act on and are refused.
    """

    def __init__(self, **kwargs) -> None:
        wrapper_args = {"find_unused_parameters", "static_graph", "gradient_as_bucket_view", "bucket_cap_mb"}
        if wrapper_args & kwargs.keys():
            raise ValueError(
                f"trainer.strategy: {sorted(wrapper_args & kwargs.keys())} configure a DistributedDataParallel "
                "wrapper, which GANDDPStrategy does not use (each player's gradients are averaged after its "
                "backward); remove them"
            )
        super().__init__(**kwargs)

    def configure_ddp(self) -> None:
        """Instead of wrapping: start every rank from rank 0's parameters and buffers."""
        self.broadcast_module(self.lightning_module)

    @staticmethod
    def broadcast_module(module: nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank (DDP does this when it wraps a module)."""
        if not (dist.is_available() and dist.is_initialized()):
            return
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)

    def average_gradients(self, module: nn.Module) -> None:
        """Replace each gradient of `module`'s parameters by its mean over ranks (one all-reduce)."""
        if not (dist.is_available() and dist.is_initialized()) or self.world_size == 1:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])  # (total params,)
        dist.all_reduce(flat)
        flat /= self.world_size
        for g, mean in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
            g.copy_(mean.view_as(g))

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Rank 0's buffers (batch norm running statistics) to every rank, as DDP's broadcast_buffers."""
        buffers = list(module.buffers())
        if buffers and dist.is_available() and dist.is_initialized() and self.world_size > 1:
            for b in buffers:
                dist.broadcast(b.data, src=0)
