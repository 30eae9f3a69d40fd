"""Wasserstein GAN with gradient penalty (Gulrajani et al. 2017). The critic's score difference estimates the
Wasserstein-1 distance; the penalty (λ = 10 on interpolates, added by the trainer) keeps the critic 1-Lipschitz."""

from __future__ import annotations

from torch import Tensor

from ganforge.losses import AdversarialLoss, register


@register
class WassersteinGP(AdversarialLoss):
    """D: E[D(G(z))] − E[D(x)]; G: −E[D(G(z))]; with the WGAN gradient penalty switched on."""

    name = "wgan-gp"
    description = "Wasserstein critic with gradient penalty λ = 10 (use --d-steps 5, betas 0.0 0.9)"
    probabilistic = False
    implied_penalty = "gp"

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return fake_logits.mean() - real_logits.mean()

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return -fake_logits.mean()
