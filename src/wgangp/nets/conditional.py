"""Class-conditional nets: G(z, y) with conditional batch norm, and critics that know the classes.

- Conditional batch norm (the released gan_cifar_resnet.py's cond_batchnorm): batch norm without its
  own affine, then a scale and shift looked up per class, gamma[y] * BN(h) + beta[y]. It is the generators'
  only class path by default, as released and in Miyato & Koyama's generator; `label_input=True` also feeds
  the class into the input Linear (cGAN's G(z, y)). Why that matters in short runs: gamma[y] and beta[y]
  start at 1 and 0 for every class, in units of the normalised activation, and Adam moves each by at most about
  lr per step (after 1500 steps at lr 1e-4 the classes' scales and shifts differ by 0.04 on average), so the
  class barely reaches the samples for the first thousand iterations. Measured on Fashion-MNIST (AC-GAN,
  acgan_scale_g 1, base_filters 16, seed 0): conditional accuracy at 1000 iterations 0.30 without, 0.83 with.
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
        # tflib/ops/cond_batchnorm.py (gan_cifar_resnet.py's Normalize with labels): offset_m zeros and scale_m
        # ones, [n_labels, C]; Miyato & Koyama's CategoricalConditionalBatchNormalization: gammas 1, betas 0.
        # (The released op normalises with the batch's own moments even when sampling; here eval mode uses the
        # running statistics, as every other batch norm of the project.)
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


def _class_input(
    enabled: bool, num_classes: int, linear: nn.Linear, std: float | None = None, bound: float | None = None
) -> nn.Embedding | None:
    """The class in the generator's input (`label_input`), or None (conditional batch norm alone, as released).

    An embedding e[y] (num_classes, out_features) added to the input Linear's output is that Linear applied to
    cat(z, one_hot(y)) (cGAN, Mirza & Osindero 2014; Odena et al.'s AC-GAN generator also takes the class
    with z), initialised as the Linear's own weights: N(0, std) or U(-bound, bound).
    """
    if not enabled:
        return None
    embed = nn.Embedding(num_classes, linear.out_features)
    if std is not None:
        nn.init.normal_(embed.weight, 0.0, std)
    else:
        nn.init.uniform_(embed.weight, -bound, bound)
    return embed


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

    Args: those of DCGANGenerator (norm must be batch), num_classes (from the data), and label_input: the class
    also enters the input Linear, as Linear(cat(z, one_hot(y))) (default False: conditional batch norm alone).
    """

    needs_labels = True
    takes_labels = True

    def __init__(
        self, data_shape: tuple[int, ...], num_classes: int, norm: str = "batch", label_input: bool = False, **kwargs
    ) -> None:
        _need_batch_norm(norm, type(self).__name__)
        super().__init__(data_shape, norm=norm, **kwargs)
        self.num_classes = int(num_classes)
        condition_batch_norms(self.net, self.num_classes)
        # the one-hot columns of the input Linear, initialised as its other weights (dcgan_init: N(0, 0.02))
        self.class_input = _class_input(label_input, self.num_classes, self.net[0], std=0.02)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        labels = _check_labels(labels, z.size(0), self.num_classes, type(self).__name__)
        if self.class_input is None:
            return run_with_labels(self.net, z, labels)
        h = self.net[0](z) + self.class_input(labels)  # Linear(cat(z, one_hot(y))): (N, 16 * widths[0])
        return run_with_labels(self.net[1:], h, labels)


class ConditionalResNetGenerator(ResNetGenerator):
    """The App. F generator with class-conditional batch norm in every residual block, as the released
    gan_cifar_resnet.py (its output norm stays unconditional, as there): (z, y) -> images.

    Args: those of ResNetGenerator (norm must be batch), num_classes (from the data), and label_input: the class
    also enters the input Linear (default False: as gan_cifar_resnet.py, whose Generator.Input sees the noise only).
    """

    needs_labels = True
    takes_labels = True

    def __init__(
        self, data_shape: tuple[int, ...], num_classes: int, norm: str = "batch", label_input: bool = False, **kwargs
    ) -> None:
        _need_batch_norm(norm, type(self).__name__)
        super().__init__(data_shape, norm=norm, **kwargs)
        self.num_classes = int(num_classes)
        condition_batch_norms(self.blocks, self.num_classes)
        linear = self.input[0]  # PyTorch's default Linear initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        self.class_input = _class_input(label_input, self.num_classes, linear, bound=linear.in_features**-0.5)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        labels = _check_labels(labels, z.size(0), self.num_classes, type(self).__name__)
        if self.class_input is None:  # gan_cifar_resnet.py: Linear('Generator.Input', 128, 4*4*DIM_G, noise)
            h = self.input(z)  # (N, channels, 4, 4)
        else:  # Linear(cat(z, one_hot(y))), then (N, channels, 4, 4)
            h = self.input[1](self.input[0](z) + self.class_input(labels))
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
        # DCGAN's N(0, 0.02), as the trunk and score head here; Miyato & Koyama's snresnet_32.py uses
        # SNEmbedID(n_classes, ch, initialW=GlorotUniform()) (std sqrt(2 / (ch + n_classes))), spectrally
        # normalised; ours is normalised only under model.critic.spectral_norm=true
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        # snresnet_32.py: output += F.sum(w_y * h, axis=1, keepdims=True), h the summed pooled features
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
        # gan_cifar_resnet.py: Linear('Discriminator.ACGANOutput', DIM_D, 10, output), beside the score's Linear
        # on the same features (its init: tflib's Glorot uniform, zero bias; here PyTorch's default Linear init)
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
    # gan_cifar_resnet.py (generator step): fake_labels = tf.cast(tf.random_uniform([n_samples])*10, tf.int32);
    # its critic step generates with the real batch's labels (Generator(BATCH_SIZE/len(DEVICES), labels_splits[i])),
    # as wgangp.objectives.engine.train_iteration does
    return torch.randint(num_classes, (n,), generator=rng, device=device)
