"""Class conditioning for any model family: the generator makes the class asked for, the discriminator judges
(sample, class) pairs.

Methods, chosen by `--cond`:
- `cbn-proj` (default; SNGAN and BigGAN's choice): conditional batch norm in G, each class its own gain and bias
  (de Vries et al. 2017), and a projection discriminator D(x, y) = ψ(φ(x)) + ⟨e_y, φ(x)⟩ (Miyato & Koyama 2018).
  A generator without batch norm (the mlp default) takes the class embedding beside z instead.
- `acgan`: the same generator; D has an auxiliary classifier on φ(x), trained on real samples, whose loss on
  generated ones the generator minimises (Odena et al. 2017; real-only classification as in later work, since
  training it on early fakes teaches it noise).
- `concat`: the baseline of Mirza & Osindero (2014): a class embedding beside z in G, and beside the sample in D
  (as extra constant channels for images).

A family takes part by giving its discriminator `features(x)` (φ, any shape) and `head(features)` (ψ, one logit per
sample). Labels are class indices (N,), or class weights (N, K) in G, which interpolate between classes.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger("ganforge")
COND_METHODS = ("cbn-proj", "acgan", "concat")
G_EMBED_MAX = 64  # class embedding beside z: one dimension per class, up to this
D_EMBED_MAX = 16  # extra input channels of a `concat` discriminator
GRID_COLUMNS = 8  # conditional grids: one class per row, this many samples each
GRID_CLASSES = 16  # at most this many classes (rows) in a conditional grid, spread over the class list


class ClassEmbedding(nn.Embedding):
    """Class index → a learnt vector; class weights (N, K) → their weighted mix (for class interpolation)."""

    def forward(self, labels: Tensor) -> Tensor:
        if labels.is_floating_point():
            return labels.to(self.weight.dtype) @ self.weight
        return super().forward(labels)


class ConditionalBatchNorm(nn.Module):
    """Batch norm without its own affine part, followed by a gain and bias chosen by the class."""

    def __init__(self, norm: nn.BatchNorm1d | nn.BatchNorm2d, classes: int):
        super().__init__()
        self.norm = type(norm)(norm.num_features, eps=norm.eps, momentum=norm.momentum, affine=False)
        self.gain = ClassEmbedding(classes, norm.num_features)
        self.bias = ClassEmbedding(classes, norm.num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)
        self.labels: Tensor | None = None  # set by ConditionalGenerator before each forward pass

    def forward(self, x: Tensor) -> Tensor:
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)
        gain, bias = self.gain(self.labels).view(shape), self.bias(self.labels).view(shape)
        return self.norm(x) * gain.to(x.dtype) + bias.to(x.dtype)


def _replace_batch_norms(module: nn.Module, classes: int) -> int:
    """Swap every BatchNorm1d/2d below `module` for a ConditionalBatchNorm; returns how many were swapped."""
    swapped = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d):
            setattr(module, name, ConditionalBatchNorm(child, classes))
            swapped += 1
        else:
            swapped += _replace_batch_norms(child, classes)
    return swapped


def generator_embedding_dim(method: str, classes: int, has_batch_norm: bool) -> int:
    """Extra inputs the generator takes beside z: a class embedding for `concat` and for G without batch norm."""
    return min(classes, G_EMBED_MAX) if method == "concat" or not has_batch_norm else 0


class ConditionalGenerator(nn.Module):
    """(z, labels) → samples of the class asked for, around a family's generator."""

    def __init__(self, inner: nn.Module, classes: int, method: str, embed_dim: int):
        super().__init__()
        self.inner, self.classes, self.method = inner, classes, method
        self.embed = ClassEmbedding(classes, embed_dim) if embed_dim else None
        if self.embed is None:
            _replace_batch_norms(inner, classes)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        if self.embed is not None:
            return self.inner(torch.cat([z, self.embed(labels).to(z.dtype)], dim=1))
        for module in self.inner.modules():
            if isinstance(module, ConditionalBatchNorm):
                module.labels = labels
        return self.inner(z)


class ConditionalDiscriminator(nn.Module):
    """(samples, labels) → (one logit per pack, class logits per sample or None), around a family's D.

    PacGAN packing happens here, before the family's network: with `pack` m, m consecutive samples form one input
    and the projection sums each member's class embedding (one table per position in the pack)."""

    def __init__(self, inner: nn.Module, classes: int, method: str, sample_shape: tuple[int, ...], pack: int = 1):
        super().__init__()
        self.inner, self.classes, self.method, self.pack = inner, classes, method, pack
        self.label_channels = min(classes, D_EMBED_MAX) if method == "concat" else 0
        self.label_input = ClassEmbedding(classes, self.label_channels) if self.label_channels else None
        width = self._feature_width(sample_shape)
        self.projection = ClassEmbedding(classes * pack, width) if method == "cbn-proj" else None
        if self.projection is not None:
            nn.init.normal_(self.projection.weight, 0.0, 1.0 / math.sqrt(width))
        self.classifier = nn.Linear(width, classes * pack) if method == "acgan" else None

    @torch.no_grad()
    def _feature_width(self, sample_shape: tuple[int, ...]) -> int:
        """Width of φ(x), measured with one dry pass in eval mode (batch-norm statistics stay untouched)."""
        channels = (sample_shape[0] + self.label_channels) * self.pack
        probe = torch.zeros(2, channels, *sample_shape[1:])
        was_training = self.inner.training
        self.inner.eval()
        width = self.inner.features(probe).flatten(1).shape[1]
        self.inner.train(was_training)
        return width

    def _with_labels(self, x: Tensor, labels: Tensor) -> Tensor:
        extra = self.label_input(labels).to(x.dtype)
        if x.dim() > 2:  # images: the embedding as constant channels
            extra = extra.view(*extra.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
        return torch.cat([x, extra], dim=1)

    def forward(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.label_input is not None:
            x = self._with_labels(x, labels)
        n, m = x.shape[0], self.pack
        if m > 1:
            x = x.reshape(n // m, m * x.shape[1], *x.shape[2:])
        features = self.inner.features(x)
        logits = self.inner.head(features)
        flat = features.flatten(1)
        if self.projection is not None:
            slots = labels.view(n // m, m) + torch.arange(m, device=labels.device) * self.classes
            embedded = self.projection(slots).sum(1)
            logits = logits + (embedded.to(flat.dtype) * flat).sum(1)
        class_logits = None
        if self.classifier is not None:
            class_logits = self.classifier(flat).view(n, self.classes)
        return logits, class_logits

    def probability(self, x: Tensor, labels: Tensor) -> Tensor:
        """D(x | y): the probability that x is a real sample of class y."""
        return torch.sigmoid(self(x, labels)[0])


def has_batch_norm(module: nn.Module) -> bool:
    """Whether any batch norm sits in `module` (conditional batch norm needs one to condition)."""
    return any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in module.modules())


def auxiliary_loss(class_logits: Tensor | None, labels: Tensor) -> Tensor:
    """ACGAN's classification loss (0 for methods without a classifier)."""
    if class_logits is None:
        return torch.zeros((), device=labels.device)
    return F.cross_entropy(class_logits.float(), labels)


def fixed_labels(n: int, classes: int) -> Tensor:
    """Classes of the fixed samples: rows of `GRID_COLUMNS` samples of one class, the rows spread over the classes
    (all of them when there are at most `GRID_CLASSES`), repeated to fill `n`."""
    shown = torch.linspace(0, classes - 1, min(classes, GRID_CLASSES)).round().long()
    return shown[(torch.arange(n) // GRID_COLUMNS) % len(shown)]
