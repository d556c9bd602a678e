"""An exponential moving average of the generator's weights (`objective.generator_ema`), beyond the paper.

StudioGAN and lightweight-gan sample from such an average; it usually lowers FID at no training cost.
The average is torch's AveragedModel with get_ema_multi_avg_fn: after generator iteration n,

    e_n = w_n                                 for n <= generator_ema_start (the average copies the generator)
    e_n = decay * e_{n-1} + (1 - decay) * w_n  after it,

with e_0 = w_0, the initial weights. It is a submodule of the objective, so the LightningModule's
state_dict (the checkpoint) holds it and a resume continues it exactly.

Batch norm: the generator is scored in eval mode, on its running statistics, so the average needs
statistics that match its weights. The running means and variances are averaged with the weights
(use_buffers=True): both then describe the same horizon of about 1 / (1 - decay) iterations, whereas
the raw generator's own statistics follow only its last ~10 batches (momentum 0.1) of the current
weights, and a checkpoint's average samples as it is, with no pass over fresh z to recompute them.
(BatchNorm's integer num_batches_tracked is averaged too and becomes meaningless; it is read only by
momentum=None layers, which these nets do not use.)
"""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def averaged_generator(generator: nn.Module, decay: float) -> AveragedModel:
    """An AveragedModel of `generator` (a copy of it in `.module`) holding e_0 = w_0; it takes no gradients."""
    ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.requires_grad_(False)
    ema.update_parameters(generator)  # the first update copies: e_0 = w_0, so the next one averages
    return ema


def update_ema(ema: AveragedModel, generator: nn.Module, iteration: int, start: int) -> None:
    """The average after generator iteration `iteration` (completed iterations, from 1): a copy of the
    generator (parameters and buffers) up to `start`, an exponential average after it."""
    if iteration <= start:
        ema.module.load_state_dict(generator.state_dict())
    else:
        ema.update_parameters(generator)
