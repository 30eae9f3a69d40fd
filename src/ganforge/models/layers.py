"""Discriminator pieces that work with any family: minibatch standard deviation and PacGAN packing."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError


class MinibatchStd(nn.Module):
    """Append the average standard deviation across the batch as one more feature (Karras et al. 2018): a
    discriminator that sees the batch's variety can punish a generator that makes one thing."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        group = min(self.group, n)
        while n % group:
            group -= 1
        grouped = x.reshape(group, n // group, *x.shape[1:]).float()
        std = grouped.var(0, unbiased=False).add(1e-8).sqrt().mean(dim=list(range(1, x.dim())), keepdim=True)
        feature = std.repeat(group, *([1] * (x.dim() - 1))).to(x.dtype)  # (n, 1[, 1, 1])
        if x.dim() == 4:
            feature = feature.expand(-1, 1, x.shape[2], x.shape[3])
        return torch.cat([x, feature], dim=1)


class Packed(nn.Module):
    """PacGAN (Lin et al. 2018): the discriminator judges `m` samples at once, concatenated along channels (images)
    or features (vectors), so a generator that repeats itself is easy to spot. Outputs one logit per pack."""

    def __init__(self, inner: nn.Module, m: int):
        super().__init__()
        self.inner, self.m = inner, m

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] % self.m:
            raise GanforgeError(f"--pack {self.m} needs a batch size divisible by {self.m}, got {x.shape[0]}")
        grouped = x.reshape(x.shape[0] // self.m, self.m * x.shape[1], *x.shape[2:])
        return self.inner(grouped)

    def probability(self, x: Tensor) -> Tensor:
        """D on packs of m samples."""
        return self.inner.probability(x.reshape(x.shape[0] // self.m, self.m * x.shape[1], *x.shape[2:]))
