"""k-nearest-neighbour manifold metrics.

Precision and recall (Kynkäänniemi et al. 2019): the real manifold is the union of balls around each real feature
with radius its distance to its k-th nearest real neighbour; precision is the share of generated samples inside it,
recall the share of real samples inside the generated manifold (k = 3).
Density and coverage (Naeem et al. 2020): density counts how many real balls hold each generated sample, divided by k
(can exceed 1); coverage is the share of real balls that hold at least one generated sample (k = 5).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Metric, register_metric

CHUNK = 2048  # rows of the distance matrix computed at once, to bound memory


def kth_neighbour_radius(points: Tensor, k: int) -> Tensor:
    """Distance from each point to its k-th nearest other point."""
    if len(points) <= k:
        raise GanforgeError(f"k-NN metrics need more than k={k} samples per set, got {len(points)}")
    radii = []
    for start in range(0, len(points), CHUNK):
        distances = torch.cdist(points[start : start + CHUNK], points)
        radii.append(distances.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(radii)


def ball_counts(queries: Tensor, centres: Tensor, radii: Tensor) -> Tensor:
    """For each query, how many balls (centre, radius) contain it."""
    counts = []
    for start in range(0, len(queries), CHUNK):
        inside = torch.cdist(queries[start : start + CHUNK], centres) <= radii[None]
        counts.append(inside.sum(1))
    return torch.cat(counts)


def nearest_fake_within_ball(real: Tensor, fake: Tensor, radii: Tensor) -> Tensor:
    """For each real point, whether its nearest generated sample lies within its k-NN ball."""
    hits = []
    for start in range(0, len(real), CHUNK):
        nearest = torch.cdist(real[start : start + CHUNK], fake).min(1).values
        hits.append(nearest <= radii[start : start + CHUNK])
    return torch.cat(hits)


@register_metric
class PrecisionRecall(Metric):
    """Improved precision and recall; higher is better for both."""

    name = "pr"
    description = "k-NN manifolds, k = 3 (Kynkäänniemi et al. 2019): realism and variety"
    values: ClassVar[dict[str, str | None]] = {"precision": "max", "recall": "max"}

    def __init__(self, k: int = 3):
        self.k = k
        super().__init__()

    def compute(self) -> dict[str, float]:
        real, fake = self._gathered()
        real_radii, fake_radii = kth_neighbour_radius(real, self.k), kth_neighbour_radius(fake, self.k)
        precision = (ball_counts(fake, real, real_radii) > 0).double().mean()
        recall = (ball_counts(real, fake, fake_radii) > 0).double().mean()
        return {"precision": float(precision), "recall": float(recall)}


@register_metric
class DensityCoverage(Metric):
    """Density (≈1 when the sets match) and coverage (share of real neighbourhoods reached)."""

    name = "dc"
    description = "k-NN balls, k = 5 (Naeem et al. 2020)"
    # density is best near 1, not at its largest, so it ranks nothing
    values: ClassVar[dict[str, str | None]] = {"density": None, "coverage": "max"}

    def __init__(self, k: int = 5):
        self.k = k
        super().__init__()

    def compute(self) -> dict[str, float]:
        real, fake = self._gathered()
        radii = kth_neighbour_radius(real, self.k)
        density = ball_counts(fake, real, radii).double().sum() / (self.k * len(fake))
        coverage = nearest_fake_within_ball(real, fake, radii).double().mean()
        return {"density": float(density), "coverage": float(coverage)}
