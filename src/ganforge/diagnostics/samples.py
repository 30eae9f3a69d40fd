"""Health of the generator's samples at fixed inputs, measured at each log line for every kind of data: how spread
they are against real samples (a collapsed generator makes near-identical samples) and how far they moved since the
last look (a stalled generator makes the same samples)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ganforge.data.base import SEQUENCE
from ganforge.diagnostics.classes import ClassReference
from ganforge.diagnostics.sequences import SequenceHealth


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


class DataHealth:
    """What the fixed samples say for this data in particular: mode reach on the mixtures (ring, grid), per-class
    spread and leakage in a conditional run, and for time series how much they change over time and how much their
    steps' order matters. References are built at the first look (they draw real samples)."""

    def __init__(self, dataset: Any, conditional: bool):
        self.dataset, self.conditional = dataset, conditional
        self._classes: Any = None
        self._series: Any = None

    def judge(self, fake: Tensor, labels: Tensor | None = None) -> dict[str, Any]:
        """Health fields of `fake` (flattened fixed samples in model space, of classes `labels`)."""
        health: dict[str, Any] = {}
        dataset = self.dataset
        if dataset.kind == SEQUENCE:
            shape = (-1, *dataset.sample_shape)  # the data may hold fewer windows than there are fixed samples
            features = len(dataset.codec.mean)  # presence and attributes are not the series' course
            if self._series is None:
                self._series = SequenceHealth(dataset.model_samples(len(fake), seed=1)[..., :features])
            health.update(self._series.judge(fake.view(shape)[..., :features]))
        if self.conditional:
            self._classes = self._classes or ClassReference(dataset)
            health.update(self._classes.judge(fake, labels))
        if "modes" in dataset.info:
            modes = torch.tensor(dataset.info["modes"], dtype=torch.float64)
            nearest = torch.cdist(dataset.codec.decode(fake).double(), modes).argmin(1)
            counts = torch.bincount(nearest, minlength=len(modes))
            health["modes_reached"] = int((counts >= len(fake) / (4 * len(modes))).sum())
            health["modes_total"] = len(modes)
        return health
