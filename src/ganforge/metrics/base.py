"""The shared shape of every metric, after torchmetrics' `Metric`: `update` with batches, then `compute`; and the
one registry that `evaluate`, `--metrics`, `--best-metric` and the CLI help read.

Metrics here work on features (or raw samples), not images: the caller extracts features once and feeds every
metric, so ten metrics cost one pass of the feature network. Adding a metric is one module with one class decorated
by `@register_metric`, imported in `metrics/__init__.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor

from ganforge.errors import GanforgeError

if TYPE_CHECKING:
    from ganforge.data import Dataset


@dataclass(frozen=True)
class Context:
    """What decides whether a metric applies: the real data, the feature space's name and its network."""

    dataset: Dataset
    features: str
    extractor: Any = None
    conditional: bool = False  # the generator makes the class asked for (the class metrics apply)
    repeats: int | None = None  # time series: repetitions of each score (None: each metric's protocol)


class Metric:
    """Accumulates real and generated batches; `compute` returns named numbers."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: "features" (from a feature network), "samples" (raw generated data), "labels" (a classifier's logits) or
    #: "labelled" (features with each sample's class; see `metrics.conditional`)
    needs: ClassVar[str] = "features"
    #: every value `compute` returns, with the direction that is better: "min", "max", or None (a spread, a count)
    values: ClassVar[dict[str, str | None]] = {}

    def __init__(self) -> None:
        self.reset()

    @classmethod
    def unavailable(cls, context: Context) -> str | None:
        """Why this metric cannot run on this data and these features (None when it can)."""
        return None

    @classmethod
    def values_for(cls, context: Context) -> dict[str, str | None]:
        """The values this metric gives on this data (a family such as `modes` gives a subset of `values`)."""
        return cls.values

    @classmethod
    def create(cls, context: Context) -> Metric:
        """An instance for this data (a family such as `modes` picks its variant here)."""
        return cls()

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


METRICS: dict[str, type[Metric]] = {}


def register_metric(cls: type[Metric]) -> type[Metric]:
    """Class decorator: make a metric available by its `name` (in the order metrics are registered)."""
    METRICS[cls.name] = cls
    return cls


def value_directions() -> dict[str, str | None]:
    """Every value any metric reports, with its better direction ("min", "max" or None)."""
    return {value: better for cls in METRICS.values() for value, better in cls.values.items()}


def better_direction(value: str) -> str:
    """"min" or "max" for a value that can rank checkpoints; a one-line error naming the rankable ones otherwise."""
    directions = value_directions()
    if directions.get(value) is None:
        rankable = ", ".join(k for k, v in directions.items() if v is not None)
        raise GanforgeError(f"option --best-metric {value} is not a value that ranks checkpoints; expected auto or "
                            f"one of {rankable}")
    return directions[value]
