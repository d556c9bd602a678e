"""Class-conditional nets: G(z, y) with conditional batch norm, and critics that know the classes.

- Conditional batch norm (the released gan_cifar_resnet.py's cond_batchnorm): batch norm without its
  own affine, then a scale and shift looked up per class, gamma[y] * BN(h) + beta[y].
- Projection critic (Miyato & Koyama 2018): D(x, y) = psi(phi(x)) + embed(y) . phi(x), with phi the
  unconditional trunk (`features`) and psi its score head. Each score depends on its own (x_i, y_i)
  only, so a penalised projection critic stays per sample (Sec. 4), and the penalty's gradient is taken
  w.r.t. x with y fixed (wgangp.objectives.base.GANObjective.critic_given).
- AC-GAN critic (released CONDITIONAL = ACGAN = True): an unconditional trunk and score head, plus a
  second Linear on the same pooled features giving num_classes logits (`scores_and_logits`).

Every class here has `needs_labels = True`: wgangp.build.build passes the data's `num_classes` and
refuses unlabelled data before training. `takes_labels` says whether `forward` takes (input, labels).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wgangp.nets.dcgan import DCGANCritic, DCGANGenerator
from wgangp.nets.layers import spectral_normalize
from wgangp.nets.resnet import ResNetCritic, ResNetGenerator


class ConditionalBatchNorm2d(nn.Module):
    """gamma[y] * BN(h) + beta[y]: (N, C, H, W), labels (N,) int64 -> (N, C, H, W); gamma starts at 1, beta at 0."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, h: Tensor, labels: Tensor) -> Tensor:
        shape = (h.size(0), h.size(1), 1, 1)
        return self.gamma(labels).view(shape) * self.bn(h) + self.beta(labels).view(shape)


def condition_batch_norms(module: nn.Module, num_classes: int) -> int:
    """Replace every BatchNorm2d below `module` by a ConditionalBatchNorm2d; returns how many."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, ConditionalBatchNorm2d(child.num_features, num_classes))
            count += 1
        else:
            count += condition_batch_norms(child, num_classes)
    return count


def run_with_labels(layers: nn.Sequential, h: Tensor, labels: Tensor) -> Tensor:
    """A Sequential's forward that hands `labels` to its conditional norms."""
    for layer in layers:
        h = layer(h, labels) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
    return h


def _check_labels(labels: Tensor | None, n: int, num_classes: int, net: str) -> Tensor:
    if labels is None or labels.shape != (n,):
        got = None if labels is None else tuple(labels.shape)
        raise ValueError(
            f"{net} is class-conditional: pass labels of shape ({n},) (int64 in 0..{num_classes - 1}); got {got}"
        )
    return labels


def _need_batch_norm(norm: str, net: str) -> None:
    if norm != "batch":
        raise ValueError(
            f"{net} conditions its batch norms on the class (conditional batch norm); it needs norm=batch, got {norm!r}"
        )


class ConditionalDCGANGenerator(DCGANGenerator):
    """The DCGAN generator with every batch norm class-conditional: (z (N, latent_dim), y (N,)) -> images.

    Args: those of DCGANGenerator (norm must be batch), and num_classes (from the data).
    """

    needs_labels = True
    takes_labels = True

    def __init__(self, data_shape: tuple[int, ...], num_classes: int, norm: str = "batch", **kwargs) -> None:
        _need_batch_norm(norm, type(self).__name__)
        super().__init__(data_shape, norm=norm, **kwargs)
        self.num_classes = int(num_classes)
        condition_batch_norms(self.net, self.num_classes)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return run_with_labels(self.net, z, _check_labels(labels, z.size(0), self.num_classes, type(self).__name__))


class ConditionalResNetGenerator(ResNetGenerator):
    """The App. F generator with class-conditional batch norm in every residual block, as the released
    gan_cifar_resnet.py (its output norm stays unconditional, as there): (z, y) -> images.

    Args: those of ResNetGenerator (norm must be batch), and num_classes (from the data).
    """

    needs_labels = True
    takes_labels = True

    def __init__(self, data_shape: tuple[int, ...], num_classes: int, norm: str = "batch", **kwargs) -> None:
        _need_batch_norm(norm, type(self).__name__)
        super().__init__(data_shape, norm=norm, **kwargs)
        self.num_classes = int(num_classes)
        condition_batch_norms(self.blocks, self.num_classes)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        labels = _check_labels(labels, z.size(0), self.num_classes, type(self).__name__)
        h = self.input(z)  # (N, channels, 4, 4)
        for block in self.blocks:
            if hasattr(block, "residual"):  # a ResBlock; the 28x28 generator's Crop has no labels to take
                h = block.shortcut(h) + run_with_labels(block.residual, h, labels)
            else:
                h = block(h)
        return self.output(h)


class _Projection(nn.Module):
    """embed(y) . phi(x): the class term of a projection critic (N, F), (N,) -> (N,)."""

    def __init__(self, num_classes: int, feature_dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, feature_dim)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        return (self.embed(labels) * features).sum(dim=1)


def _add_class_head(critic: nn.Module, name: str, head: nn.Module, num_classes: int, spectral_norm: bool) -> None:
    """Give a critic built by its base class a class head (`name`: the projection or AC-GAN's classifier) on its
    features; under spectral_norm the head is normalised too (the base class normalised the trunk)."""
    critic.num_classes = int(num_classes)
    setattr(critic, name, head)
    if spectral_norm:
        spectral_normalize(critic)  # leaves the trunk's already parametrised layers as they are


def _projection_scores(critic: nn.Module, x: Tensor, labels: Tensor | None) -> Tensor:
    """psi(phi(x)) + embed(y) . phi(x): (N, ...), (N,) -> (N,)."""
    labels = _check_labels(labels, x.size(0), critic.num_classes, type(critic).__name__)
    h = critic.features(x)
    return critic.head(h) + critic.projection(h, labels)


def _scores_and_logits(critic: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """(scores (N,), class logits (N, num_classes)) from one trunk pass."""
    h = critic.features(x)
    return critic.head(h), critic.classifier(h)


class DCGANProjectionCritic(DCGANCritic):
    """D(x, y) = psi(phi(x)) + embed(y) . phi(x) on the DCGAN trunk: (x (N, C, H, W), y (N,)) -> (N,)."""

    needs_labels = True
    takes_labels = True

    def __init__(self, data_shape: tuple[int, ...], num_classes: int, **kwargs) -> None:
        super().__init__(data_shape, **kwargs)
        projection = _Projection(int(num_classes), self.feature_dim)
        _add_class_head(self, "projection", projection, num_classes, kwargs.get("spectral_norm", False))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return _projection_scores(self, x, labels)


class ResNetProjectionCritic(ResNetCritic):
    """D(x, y) = psi(phi(x)) + embed(y) . phi(x) on the App. F trunk (phi: the pooled features)."""

    needs_labels = True
    takes_labels = True

    def __init__(self, data_shape: tuple[int, ...], num_classes: int, **kwargs) -> None:
        super().__init__(data_shape, **kwargs)
        projection = _Projection(int(num_classes), self.feature_dim)
        _add_class_head(self, "projection", projection, num_classes, kwargs.get("spectral_norm", False))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return _projection_scores(self, x, labels)


class DCGANACGANCritic(DCGANCritic):
    """The DCGAN critic plus AC-GAN's classifier head on its trunk: `forward` is the unconditional score
    (the one the penalty sees), `scores_and_logits` gives both from one trunk pass."""

    needs_labels = True
    takes_labels = False

    def __init__(self, data_shape: tuple[int, ...], num_classes: int, **kwargs) -> None:
        super().__init__(data_shape, **kwargs)
        classifier = nn.Linear(self.feature_dim, int(num_classes))  # (N, F) -> (N, num_classes)
        _add_class_head(self, "classifier", classifier, num_classes, kwargs.get("spectral_norm", False))

    def scores_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(scores (N,), class logits (N, num_classes))."""
        return _scores_and_logits(self, x)


class ResNetACGANCritic(ResNetCritic):
    """The App. F critic plus the released ACGAN head: a second Linear on the pooled features giving
    num_classes logits; `forward` is the WGAN score alone (the penalty is on it only, as released)."""

    needs_labels = True
    takes_labels = False

    def __init__(self, data_shape: tuple[int, ...], num_classes: int, **kwargs) -> None:
        super().__init__(data_shape, **kwargs)
        classifier = nn.Linear(self.feature_dim, int(num_classes))  # (N, F) -> (N, num_classes)
        _add_class_head(self, "classifier", classifier, num_classes, kwargs.get("spectral_norm", False))

    def scores_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(scores (N,), class logits (N, num_classes))."""
        return _scores_and_logits(self, x)


def needs_labels(target: type | nn.Module) -> bool:
    """Whether a net or objective (class or instance) needs labelled data (its `needs_labels` attribute)."""
    return bool(getattr(target, "needs_labels", False))


def takes_labels(net: type | nn.Module) -> bool:
    """Whether a net's forward takes (input, labels)."""
    return bool(getattr(net, "takes_labels", False))


def uniform_labels(n: int, num_classes: int, rng: torch.Generator, device: torch.device | str = "cpu") -> Tensor:
    """n class labels uniform over 0..num_classes-1 (the released code's fake labels), int64 (n,)."""
    return torch.randint(num_classes, (n,), generator=rng, device=device)
