"""Health of the generator's samples at fixed inputs, measured at each log line for every kind of data: how spread
they are against real samples (a collapsed generator makes near-identical samples) and how far they moved since the
last look (a stalled generator makes the same samples)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


class SampleHealth:
    """Spread and movement of flattened fixed-input samples; `previous` is checkpointed by the loop."""

    def __init__(self) -> None:
        self.previous: Tensor | None = None
        self._real_spread: float | None = None

    def measure(self, fake: Tensor, real_samples: Callable[[int], Tensor]) -> dict[str, Any]:
        """`diversity` (mean pairwise distance over that of as many real samples) and `movement` (relative change
        since the last call); non-finite samples give a NaN diversity and are not remembered."""
        fake = fake.float().cpu()
        if not bool(torch.isfinite(fake).all()):
            return {"diversity": math.nan}
        if self._real_spread is None:
            self._real_spread = float(torch.pdist(real_samples(len(fake)).double()).mean())
        health: dict[str, Any] = {"diversity": float(torch.pdist(fake.double()).mean()) / max(self._real_spread,
                                                                                                 1e-12)}
        if self.previous is not None:
            change = (fake - self.previous).norm() / self.previous.norm().clamp_min(1e-12)
            health["movement"] = float(change)
        self.previous = fake
        return health
