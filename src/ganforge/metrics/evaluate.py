"""One evaluation of a generator against real data: draw samples, extract features once, feed every metric."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ganforge.data import Dataset
from ganforge.errors import GanforgeError
from ganforge.features import DIGIT_DATASETS, default_features, extract, get_extractor
from ganforge.metrics import (
    METRIC_NAMES,
    ClassifierModes,
    DensityCoverage,
    FrechetDistance,
    InceptionScore,
    KernelDistance,
    Metric,
    MixtureModes,
    PrecisionRecall,
)

#: which value of each metric decides "better" when keeping the best checkpoint, and in which direction
HEADLINE = {"fd": ("fd", "min"), "kid": ("kid", "min"), "is": ("is", "max"), "pr": ("precision", "max"),
            "dc": ("coverage", "max"), "modes": ("modes", "max")}


def parse_metrics(text: str | Sequence[str] | None) -> list[str] | None:
    """'fd,kid' → ['fd', 'kid'], checking each name."""
    if text is None:
        return None
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown or not names:
        raise GanforgeError(f"unknown metric {unknown[0] if unknown else text!r}; expected a comma-separated list of "
                            f"{', '.join(METRIC_NAMES)}")
    return names


def modes_defined(dataset: Dataset, features: str) -> bool:
    """Mode coverage exists for the mixtures (known centres) and, with the digit classifier, for digit sets."""
    return "modes" in dataset.info or (features == "digits" and dataset.name in DIGIT_DATASETS)


def default_metrics(dataset: Dataset, features: str) -> list[str]:
    """fd, kid, pr, dc, plus is when the features come with class logits, plus modes where defined."""
    names = ["fd", "kid", "pr", "dc"]
    if features in ("inception", "digits"):
        names.append("is")
    if modes_defined(dataset, features):
        names.append("modes")
    return names


def build_metrics(names: list[str], dataset: Dataset, features: str) -> list[Metric]:
    """Metric objects for `names`, refusing those that do not apply to this data or these features."""
    metrics: list[Metric] = []
    for name in names:
        if name == "is" and features == "raw":
            raise GanforgeError("metric is needs class logits; use --features digits or inception")
        if name == "modes" and not modes_defined(dataset, features):
            raise GanforgeError(f"metric modes is defined for ring, grid and (with --features digits) digits and "
                                f"stacked-digits, not for {dataset.name}")
        if name == "modes" and "modes" in dataset.info:
            metrics.append(MixtureModes(torch.tensor(dataset.info["modes"]), dataset.info["mode_std"]))
        else:
            metrics.append({"fd": FrechetDistance, "kid": KernelDistance, "is": InceptionScore,
                            "pr": PrecisionRecall, "dc": DensityCoverage, "modes": ClassifierModes}[name]())
    return metrics


def evaluate(sample: Callable[[int, int], Tensor], dataset: Dataset, n: int = 10_000,
             metrics: list[str] | None = None, features: str | None = None,
             inception_weights: str | None = None, device: torch.device | None = None, seed: int = 0,
             batch_size: int = 250, progress: bool = True, extractor: torch.nn.Module | None = None) -> dict[str, Any]:
    """Compare `n` generated samples with up to `n` real ones.

    `sample(n, seed)` returns generated samples in the user's form. Returns {metric value name: number} plus
    'features', 'n_real', 'n_fake' and 'seconds'.
    """
    start = time.perf_counter()
    device = device or torch.device("cpu")
    features = features or default_features(dataset.name, dataset.kind)
    names = metrics or default_metrics(dataset, features)
    objects = build_metrics(names, dataset, features)
    if extractor is None:
        extractor = get_extractor(features, inception_weights)
    real = dataset.real_samples(n, seed=seed)
    fake = sample(n, seed)
    real_features, _, _ = extract(extractor, lambda s, c: real[s : s + c], len(real), batch_size, device,
                                  "features (real)", progress)
    fake_features, fake_logits, fake_samples = extract(extractor, lambda s, c: fake[s : s + c], len(fake),
                                                       batch_size, device, "features (generated)", progress)
    results: dict[str, Any] = {}
    for metric in objects:
        if metric.needs == "features":
            metric.update(real_features, real=True)
            metric.update(fake_features, real=False)
        elif metric.needs == "samples":
            metric.update(fake_samples if fake_samples.numel() else fake.double(), real=False)
        else:
            metric.update(fake_logits, real=False)
        results.update(metric.compute())
    results.update({"features": features, "n_real": len(real), "n_fake": len(fake),
                    "seconds": round(time.perf_counter() - start, 2)})
    return results
