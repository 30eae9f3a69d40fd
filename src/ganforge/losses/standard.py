"""The original GAN objective (Goodfellow et al. 2014) and its non-saturating generator loss."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganforge.losses import AdversarialLoss, register


def _discriminator_cross_entropy(real_logits: Tensor, fake_logits: Tensor, real_label: float = 1.0) -> Tensor:
    # −t·log D(x) − (1 − t)·log(1 − D(x)) − log(1 − D(G(z))), with t < 1 for one-sided label smoothing
    real = F.softplus(-real_logits).mean()
    if real_label != 1.0:
        real = real_label * real + (1 - real_label) * F.softplus(real_logits).mean()
    return real + F.softplus(fake_logits).mean()


@register
class Minimax(AdversarialLoss):
    """D: −log D(x) − log(1 − D(G(z))); G minimises log(1 − D(G(z))), which saturates when D wins."""

    name = "minimax"
    description = "the original minimax game; G minimises log(1 − D(G(z)))"

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return _discriminator_cross_entropy(real_logits, fake_logits, self.real_label)

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return -F.softplus(fake_logits).mean()  # log(1 − σ(l)) = −softplus(l)


@register
class NonSaturating(Minimax):
    """D as in minimax; G minimises −log D(G(z)), which keeps strong gradients when D rejects its samples."""

    name = "nonsaturating"
    description = "minimax for D; G minimises −log D(G(z)) (the default)"

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return F.softplus(-fake_logits).mean()  # −log σ(l) = softplus(−l)
