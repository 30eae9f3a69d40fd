"""D's passes as the training step runs them: on a sample with or without its class, and on real and generated
samples in one forward pass."""

from __future__ import annotations

from torch import Tensor, nn

from ganforge.models.fastgan import reconstructing


def judge(discriminator: nn.Module, x: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """(D's logits, ACGAN class logits or None): D(x), or D(x, y) for a conditional discriminator."""
    if labels is None:
        return discriminator(x), None
    return discriminator(x, labels)


class JudgeBoth(nn.Module):
    """D on real and on generated samples in one forward pass: DDP averages gradients for one forward pass per
    backward pass. Self-supervised discriminators (fastgan) reconstruct the real samples on the way."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, real: Tensor, fake: Tensor, real_labels: Tensor | None, fake_labels: Tensor | None
                ) -> tuple[Tensor, Tensor | None, Tensor, list[Tensor]]:
        with reconstructing(self.discriminator) as reconstruction:
            real_logits, real_classes = judge(self.discriminator, real, real_labels)
        fake_logits, _ = judge(self.discriminator, fake, fake_labels)
        return real_logits, real_classes, fake_logits, reconstruction
