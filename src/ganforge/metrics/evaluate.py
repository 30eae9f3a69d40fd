"""One evaluation of a generator against real data: draw samples, extract features once, feed every metric."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ganforge.data import SEQUENCE, Dataset
from ganforge.errors import GanforgeError
from ganforge.features import default_features, extract, get_extractor
from ganforge.metrics import METRICS, Context, Metric

log = logging.getLogger("ganforge")
LARGE_RAW_FEATURES = 4096  # above this, covariance-based metrics on raw samples take minutes


def parse_metrics(text: str | Sequence[str] | None) -> list[str] | None:
    """'fd,kid' → ['fd', 'kid'], checking each name against the registry."""
    if text is None:
        return None
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise GanforgeError(f"unknown metric {unknown[0] if unknown else text!r}; expected a comma-separated list of "
                            f"{', '.join(METRICS)}")
    return names


def default_metrics(context: Context, announce: bool = False) -> list[str]:
    """Every registered metric that applies to this data and these features (`announce`: log why others don't)."""
    names = []
    for name, cls in METRICS.items():
        if (cls.needs == "sequences") != (context.dataset.kind == SEQUENCE) or cls.needs == "pairs":
            continue  # series are measured as series, and pairs only on image-to-image runs
        reason = cls.unavailable(context)
        if reason is None:
            names.append(name)
        elif announce and (cls.needs != "labelled" or context.conditional):  # class metrics: only when they could
            log.info("left out: %s", reason)
    return names


def build_metrics(names: list[str], context: Context) -> list[Metric]:
    """Metric objects for `names`, refusing by name those that do not apply to this data or these features."""
    metrics: list[Metric] = []
    for name in names:
        reason = METRICS[name].unavailable(context)
        if reason:
            raise GanforgeError(reason)
        metrics.append(METRICS[name].create(context))
    return metrics


def evaluate(sample: Callable[..., Tensor], dataset: Dataset, n: int = 10_000,
             metrics: list[str] | None = None, features: str | None = None,
             inception_weights: str | None = None, device: torch.device | None = None, seed: int = 0,
             batch_size: int = 250, progress: bool = True, extractor: torch.nn.Module | None = None,
             announce: bool = False, conditional: bool = False, repeats: int | None = None) -> dict[str, Any]:
    """Compare `n` generated samples with up to `n` real ones.

    `sample(n, seed)` returns generated samples in the user's form; with `conditional`, `sample(n, seed, labels)`
    makes samples of the classes `labels` (drawn by the data's class frequencies). `announce` logs the metrics
    left out and why; `repeats` overrides how often each time-series score is repeated. Returns {metric value
    name: number (or per-class numbers)} plus 'features', 'n_real', 'n_fake' and 'seconds'.
    """
    start = time.perf_counter()
    device = device or torch.device("cpu")
    features = features or default_features(dataset.name, dataset.kind)
    conditional = conditional and dataset.labels is not None
    if repeats is not None and (dataset.kind != SEQUENCE or repeats < 1):
        raise GanforgeError(f"option --repeats {repeats}: repeats the time-series scores; expected a whole number "
                            f"of 1 or more, for a time-series run" + ("" if dataset.kind == SEQUENCE else
                                                                       f" ({dataset.name} is {dataset.kind} data)"))
    if metrics:  # refuse what cannot apply before loading a feature network
        build_metrics(metrics, Context(dataset, features, conditional=conditional, repeats=repeats))
    if extractor is None:
        extractor = get_extractor(features, inception_weights)
    context = Context(dataset, features, extractor, conditional, repeats)
    objects = build_metrics(metrics or default_metrics(context, announce=announce), context)
    width = math.prod(dataset.sample_shape)
    if features == "raw" and width > LARGE_RAW_FEATURES and any(m.needs == "features" for m in objects):
        log.warning("--features raw gives %s-dimensional features here: the Fréchet distance needs a %s × %s "
                    "covariance (minutes and gigabytes); --features inception measures images in 2,048 dimensions",
                    f"{width:,}", f"{width:,}", f"{width:,}")
    real = dataset.real_samples(n, seed=seed)
    real_labels = fake_labels = None
    if conditional:
        real_labels = dataset.labels[dataset.real_index(n, seed)]
        rng = torch.Generator().manual_seed(seed + 2)
        fake_labels = torch.multinomial(dataset.class_frequencies(), n, replacement=True, generator=rng)
        fake = sample(n, seed, fake_labels)
    else:
        fake = sample(n, seed)
    real_features, real_logits, _ = extract(extractor, lambda s, c: real[s : s + c], len(real), batch_size, device,
                                  "features (real)", progress)
    fake_features, fake_logits, fake_samples = extract(extractor, lambda s, c: fake[s : s + c], len(fake),
                                                       batch_size, device, "features (generated)", progress)
    results: dict[str, Any] = {}
    # the metrics themselves can take longer than the features (k-NN balls, 100 KID subsets): a bar over them too
    for metric in tqdm(objects, desc="metrics", unit="metric", disable=not progress, leave=False):
        if metric.needs == "features":
            metric.update(real_features, real=True)
            metric.update(fake_features, real=False)
        elif metric.needs == "labelled":
            metric.update_labelled(real_features, real_labels, real_logits, real=True)
            metric.update_labelled(fake_features, fake_labels, fake_logits, real=False)
        elif metric.needs == "sequences":  # in the user's units; the metric scales them
            metric.update(real, real=True)
            metric.update(fake, real=False)
        elif metric.needs == "samples":
            metric.update(fake_samples if fake_samples.numel() else fake.double(), real=False)
        else:
            metric.update(fake_logits, real=False)
        results.update(metric.compute())
    results.update({"features": features, "n_real": len(real), "n_fake": len(fake),
                    "seconds": round(time.perf_counter() - start, 2)})
    return results
