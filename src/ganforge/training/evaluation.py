"""Evaluation while training images and vectors: which metrics run, which value ranks checkpoints, and the samples
they measure (drawn with their own noise, so training RNGs are left alone)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ganforge.config import TrainConfig
from ganforge.data import SEQUENCE, Dataset
from ganforge.errors import GanforgeError
from ganforge.metrics.base import better_direction


class TrainingEvaluation:
    """The metrics of `--eval-every`, checked before training, and the value `--best-metric` ranks by."""

    def __init__(self, config: TrainConfig, dataset: Dataset, conditional: bool):
        from ganforge.features import default_features
        from ganforge.metrics import METRICS, Context
        from ganforge.metrics.evaluate import default_metrics, parse_metrics

        self.config, self.dataset, self.conditional = config, dataset, conditional
        self.features = config.eval_features or default_features(dataset.name, dataset.kind)
        context = Context(dataset, self.features, conditional=conditional)
        # Time series: the protocol's repetitions take minutes, so while training each score runs once, and only
        # the discriminative score unless --eval-metrics names more.
        sequence = dataset.kind == SEQUENCE
        self.repeats = 1 if sequence else None
        self.names = parse_metrics(config.eval_metrics) or (["discriminative"] if sequence else
                                                            default_metrics(context))
        self.best_metric = self._resolve_best_metric([value for name in self.names for value, better
                                                      in METRICS[name].values_for(context).items() if better])
        self._extractor: Any = None

    def _resolve_best_metric(self, values: list[str]) -> str:
        """`auto`: mode coverage where modes are known (ring, grid), else the Fréchet distance, else the first
        rankable value; a named value must be rankable and given by the metrics that run."""
        wanted = self.config.best_metric
        if wanted == "auto":
            preferred = ["modes"] if "modes" in self.dataset.info else []
            return next((v for v in [*preferred, "fd"] if v in values), values[0] if values else "fd")
        better_direction(wanted)  # a value that cannot rank checkpoints is refused by name
        if wanted not in values:
            raise GanforgeError(f"option --best-metric {wanted} is not given by the metrics evaluated while training "
                                f"({', '.join(self.names)}); rankable values there: {', '.join(values)}")
        return wanted

    def run(self, sample: Callable[..., Tensor], device: torch.device) -> dict[str, Any]:
        """The metrics of `sample(n, seed, labels)` against the training data."""
        from ganforge.features import get_extractor
        from ganforge.metrics.evaluate import evaluate, parse_metrics

        if self._extractor is None:
            self._extractor = get_extractor(self.features, self.config.inception_weights)
        return evaluate(sample, self.dataset, n=self.config.eval_n,
                        metrics=parse_metrics(self.config.eval_metrics), features=self.features,
                        device=device, progress=False, extractor=self._extractor, conditional=self.conditional,
                        repeats=self.repeats)
