"""Relativistic pairing GAN (Jolicoeur-Martineau 2019), the loss of R3GAN (Huang et al. 2024): D scores each real
sample against a generated one, so neither network can win by shifting all scores; pair it with R1 and R2."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganforge.losses import AdversarialLoss, register


@register
class Relativistic(AdversarialLoss):
    """D: E[softplus(D(G(z)) − D(x))]; G: E[softplus(D(x) − D(G(z)))], over paired real and generated samples."""

    name = "relativistic"
    description = "relativistic pairing of real and fake scores (R3GAN); use with --r1 and --r2"
    probabilistic = False
    generator_needs_real = True

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.softplus(fake_logits - real_logits).mean()

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        if real_logits is None:
            raise ValueError("the relativistic generator loss needs D's scores on real samples")
        return F.softplus(real_logits - fake_logits).mean()
