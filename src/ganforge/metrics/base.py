"""The shared shape of every metric, after torchmetrics' `Metric`: `update` with batches, then `compute`.

Metrics here work on features (or raw samples), not images: the caller extracts features once and feeds every
metric, so ten metrics cost one pass of the feature network.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ganforge.errors import GanforgeError


class Metric:
    """Accumulates real and generated batches; `compute` returns named numbers."""

    name: ClassVar[str] = ""
    #: "features" (from a feature network), "samples" (raw generated data) or "labels" (a classifier's logits)
    needs: ClassVar[str] = "features"
    #: whether smaller is better for the headline value (used to keep the best checkpoint)
    lower_is_better: ClassVar[bool] = True

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far."""
        self._real: list[Tensor] = []
        self._fake: list[Tensor] = []

    def update(self, batch: Tensor, real: bool) -> None:
        """Add a batch of real or generated items (features, samples or logits, per `needs`)."""
        (self._real if real else self._fake).append(batch.detach().double().cpu())

    def _gathered(self, need_real: bool = True) -> tuple[Tensor, Tensor]:
        if not self._fake or (need_real and not self._real):
            raise GanforgeError(f"metric {self.name} needs both real and generated data before compute()")
        real = torch.cat(self._real) if self._real else torch.empty(0)
        return real, torch.cat(self._fake)

    def compute(self) -> dict[str, float]:
        """The metric's values, keyed by name (e.g. {'kid': …, 'kid_std': …})."""
        raise NotImplementedError
