"""Hinge loss (Lim & Ye 2017; used by SNGAN, SAGAN, BigGAN): D is pushed to margins ±1, G raises D's score."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganforge.losses import AdversarialLoss, register


@register
class Hinge(AdversarialLoss):
    """D: E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]; G: −E[D(G(z))]."""

    name = "hinge"
    description = "hinge margins for D, −D(G(z)) for G (SNGAN, BigGAN)"
    probabilistic = False

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return -fake_logits.mean()
