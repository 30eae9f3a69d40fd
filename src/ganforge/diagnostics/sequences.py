"""Health of generated time series, for the monitor's two sequence findings:

- `flat_series`: the series barely change over time (`time_variation`: their mean spread over steps, over that of
  real series, near 0) — a generator that has learnt each series' level but not its course;
- `time_ignored`: the order of the steps carries nothing (`time_order` near 0). A series' order is
  1 − mean |x[t+1] − x[t]| / the same with its steps shuffled: near 1 for smooth real series, 0 when neighbouring
  steps are no more alike than any two (white noise, or a generator whose steps ignore each other). `time_order` is
  the generated series' order over the real series' order; the rule is left out when the real series themselves
  have little order (below 0.2), as white-noise data has none to lose.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

SEQUENCE_HEALTH = ("time_variation", "time_order")
REAL_ORDER_FLOOR = 0.2


def temporal_order(series: Tensor, generator: torch.Generator | None = None) -> float:
    """1 − mean |Δx| over time / the same after shuffling the steps (one permutation for all series), of (N, T, F)."""
    series = series.double()
    shuffled = series[:, torch.randperm(series.shape[1], generator=generator)]
    steps = series.diff(dim=1).abs().mean()
    return float(1.0 - steps / shuffled.diff(dim=1).abs().mean().clamp_min(1e-12))


class SequenceHealth:
    """Measures fixed-noise series against real ones (both in model space, shaped (N, T, F))."""

    def __init__(self, real: Tensor):
        self.real_variation = float(real.double().std(1).mean())
        self.real_order = temporal_order(real, torch.Generator().manual_seed(0))

    def judge(self, fake: Tensor) -> dict[str, Any]:
        """`time_variation` and (when the real series have an order to keep) `time_order` of `fake`."""
        health: dict[str, Any] = {"time_variation": float(fake.double().std(1).mean()) / max(self.real_variation,
                                                                                              1e-12)}
        if self.real_order >= REAL_ORDER_FLOOR:
            health["time_order"] = temporal_order(fake, torch.Generator().manual_seed(0)) / self.real_order
        return health
