"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² with the cubic polynomial kernel
k(x, y) = (xᵀy / d + 1)³, averaged over random subsets, reported as mean ± standard deviation."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ganforge.metrics.base import Metric, register_metric


def polynomial_mmd(real: Tensor, fake: Tensor, degree: int = 3, coef: float = 1.0) -> Tensor:
    """Unbiased MMD² between two equal-size sets with the polynomial kernel (γ = 1/d)."""
    gamma = 1.0 / real.shape[1]
    k_rr = (real @ real.T * gamma + coef) ** degree
    k_ff = (fake @ fake.T * gamma + coef) ** degree
    k_rf = (real @ fake.T * gamma + coef) ** degree
    m = real.shape[0]
    off_diagonal = (k_rr.sum() - k_rr.diagonal().sum() + k_ff.sum() - k_ff.diagonal().sum()) / (m * (m - 1))
    return off_diagonal - 2 * k_rf.mean()


@register_metric
class KernelDistance(Metric):
    """KID over `subsets` random subsets of `subset_size` items from each set (the standard 100 × 1000)."""

    name = "kid"
    description = "unbiased polynomial-kernel MMD² over 100 subsets; ≈ 0 when the sets match"
    values: ClassVar[dict[str, str | None]] = {"kid": "min", "kid_std": None}

    def __init__(self, subsets: int = 100, subset_size: int = 1000, seed: int = 0):
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed
        super().__init__()

    def compute(self) -> dict[str, float]:
        real, fake = self._gathered()
        # Subsets of at most half the data, so that they differ and the spread means something.
        size = min(self.subset_size, max(2, min(len(real), len(fake)) // 2))
        generator = torch.Generator().manual_seed(self.seed)
        values = torch.stack([
            polynomial_mmd(real[torch.randperm(len(real), generator=generator)[:size]],
                           fake[torch.randperm(len(fake), generator=generator)[:size]])
            for _ in range(self.subsets)
        ])
        return {"kid": float(values.mean()), "kid_std": float(values.std(unbiased=False))}
