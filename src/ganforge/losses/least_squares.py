"""Least-squares GAN (Mao et al. 2017): squared distance of D's output to the targets 1 (real) and 0 (fake)."""

from __future__ import annotations

from torch import Tensor

from ganforge.losses import AdversarialLoss, register


@register
class LeastSquares(AdversarialLoss):
    """D: ½E[(D(x) − 1)²] + ½E[D(G(z))²]; G: ½E[(D(G(z)) − 1)²]."""

    name = "lsgan"
    description = "least squares: D regresses real to 1 and fake to 0"
    probabilistic = False

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return 0.5 * (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return 0.5 * (fake_logits - 1).square().mean()
