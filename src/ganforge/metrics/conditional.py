"""Metrics of class-conditional generators: does a sample of class y look like class y, and like all of class y?

- `cas` (classification accuracy score, Ravuri & Vinyals 2019): a classifier trained on generated samples (with the
  classes they were asked for) and tested on real ones, beside the same classifier trained on real ones
  (`cas_real`). The real samples are split in two halves: one trains the real classifier, the other tests both.
- `fidelity`: the share of generated samples that a classifier trained on real data files under the class asked
  for, overall and per class. On the digit sets the classifier is the shipped digit classifier (on stacked digits
  each channel's digit makes the class); elsewhere it is the scikit-learn model below trained on real features.
- `intra-fd`: the Fréchet distance between generated and real samples of each class, and its mean (Miyato &
  Koyama 2018).

The scikit-learn model is `StandardScaler` + `LogisticRegression` on the evaluation's features (the digit
classifier's 128 for digits, Inception's 2,048 for other images, the samples themselves for vectors).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import torch
from torch import Tensor

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Context, Metric, register_metric
from ganforge.metrics.frechet import frechet_distance, mean_and_covariance

MAX_CLASSES_PER_CLASS_METRICS = 100  # beyond this, few samples per class make per-class statistics noise


def per_class_frechet(real: Tensor, real_labels: Tensor, fake: Tensor, fake_labels: Tensor,
                      classes: int) -> dict[int, float]:
    """{class: Fréchet distance between its real and generated features}, for classes with ≥ 2 of each."""
    values = {}
    for c in range(classes):
        r, f = real[real_labels == c], fake[fake_labels == c]
        if len(r) >= 2 and len(f) >= 2:
            values[c] = frechet_distance(*mean_and_covariance(r), *mean_and_covariance(f))
    return values


def fit_classifier(features: Tensor, labels: Tensor) -> Any:
    """StandardScaler + LogisticRegression on (features, labels)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(torch.unique(labels)) < 2:
        raise GanforgeError("a classifier needs samples of at least 2 classes")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    with warnings.catch_warnings():  # not converging in 1,000 iterations still gives a usable classifier
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(features.numpy(), labels.numpy())


class LabelledMetric(Metric):
    """A metric fed features with the class of each sample (asked for, for generated ones) and, when the feature
    network is a classifier, its logits."""

    needs = "labelled"
    #: whether the metric needs many samples of each class (refused beyond MAX_CLASSES_PER_CLASS_METRICS classes)
    per_class: ClassVar[bool] = True
    classes: int = 0
    class_names: list[str] | None = None
    digit_logits: bool = False  # the features come from the digit classifier, whose logits name the digit

    def reset(self) -> None:
        super().reset()
        self._labels: dict[bool, list[Tensor]] = {True: [], False: []}
        self._logits: dict[bool, list[Tensor]] = {True: [], False: []}

    def update_labelled(self, features: Tensor, labels: Tensor, logits: Tensor | None, real: bool) -> None:
        """Add features, classes and (optionally) classifier logits of real or generated samples."""
        self.update(features, real)
        self._labels[real].append(labels.long().cpu())
        if logits is not None:
            self._logits[real].append(logits.double().cpu())

    def _labelled(self, real: bool) -> tuple[Tensor, Tensor]:
        features = torch.cat(self._real if real else self._fake)
        return features, torch.cat(self._labels[real])

    @classmethod
    def unavailable(cls, context: Context) -> str | None:
        if not context.conditional:
            return (f"{cls.name} measures class-conditional runs (train on labelled data: class subfolders, an .npz "
                    "`y` array, or --conditional on digits, shapes or stacked-digits)")
        if cls.per_class and context.dataset.num_classes > MAX_CLASSES_PER_CLASS_METRICS:
            return (f"{cls.name} needs many samples of each class; {context.dataset.num_classes:,} classes are more "
                    f"than {MAX_CLASSES_PER_CLASS_METRICS} (use fidelity)")
        return None

    def _names(self) -> list[str]:
        return self.class_names or [str(c) for c in range(self.classes)]

    @classmethod
    def create(cls, context: Context) -> Metric:
        metric = cls()
        metric.classes, metric.class_names = context.dataset.num_classes, context.dataset.class_names
        metric.digit_logits = context.features == "digits"
        return metric


@register_metric
class ClassificationAccuracyScore(LabelledMetric):
    """CAS: a classifier trained on generated samples, tested on real ones (beside one trained on real ones)."""

    name = "cas"
    description = "classification accuracy score: trained on generated, tested on real (cas_real: on real)"
    values: ClassVar[dict[str, str | None]] = {"cas": "max", "cas_real": None}

    def compute(self) -> dict[str, float]:
        real, real_labels = self._labelled(True)
        fake, fake_labels = self._labelled(False)
        if not bool(torch.isfinite(fake).all()):  # a diverged generator: no classifier can be trained on it
            return {"cas": math.nan, "cas_real": math.nan}
        order = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
        train, test = order[: len(real) // 2], order[len(real) // 2 :]
        if len(test) < 2:
            raise GanforgeError("cas needs at least 4 real samples")
        on_generated = fit_classifier(fake, fake_labels).score(real[test].numpy(), real_labels[test].numpy())
        on_real = fit_classifier(real[train], real_labels[train]).score(real[test].numpy(), real_labels[test].numpy())
        return {"cas": float(on_generated), "cas_real": float(on_real)}


@register_metric
class ClassFidelity(LabelledMetric):
    """The share of generated samples a real-trained classifier assigns to the class they were asked for."""

    name = "fidelity"
    description = "class fidelity: a real-trained classifier's accuracy on generated samples of the class asked for"
    values: ClassVar[dict[str, str | None]] = {"fidelity": "max", "fidelity_per_class": None}
    per_class: ClassVar[bool] = False

    def _predicted(self) -> Tensor:
        fake, _ = self._labelled(False)
        if self.digit_logits and self._logits[False]:
            logits = torch.cat(self._logits[False])
            if logits.dim() == 2 and self.classes == logits.shape[1]:
                return logits.argmax(1)
            if logits.dim() == 3 and self.classes == 10 ** logits.shape[1]:  # stacked digits: one per channel
                digits = logits.argmax(2)
                return (digits * 10 ** torch.arange(digits.shape[1] - 1, -1, -1)).sum(1)
        real, real_labels = self._labelled(True)
        return torch.from_numpy(fit_classifier(real, real_labels).predict(fake.numpy()))

    def compute(self) -> dict[str, float | dict[str, float]]:
        fake, asked = self._labelled(False)
        if not bool(torch.isfinite(fake).all()):
            return {"fidelity": math.nan, "fidelity_per_class": {}}
        correct = (self._predicted() == asked).double()
        names = self._names()
        per_class = {names[c]: float(correct[asked == c].mean()) for c in range(self.classes)
                     if bool((asked == c).any())}
        if len(per_class) > MAX_CLASSES_PER_CLASS_METRICS:
            per_class = {}
        return {"fidelity": float(correct.mean()), "fidelity_per_class": per_class}


@register_metric
class IntraFrechetDistance(LabelledMetric):
    """The Fréchet distance within each class, and its mean over classes."""

    name = "intra-fd"
    description = "per-class Fréchet distance (intra-FD) and its mean; lower is better"
    values: ClassVar[dict[str, str | None]] = {"intra_fd": "min", "fd_per_class": None}

    def compute(self) -> dict[str, float | dict[str, float]]:
        real, real_labels = self._labelled(True)
        fake, fake_labels = self._labelled(False)
        if not bool(torch.isfinite(fake).all()):
            return {"intra_fd": math.nan, "fd_per_class": {}}
        values = per_class_frechet(real, real_labels, fake, fake_labels, self.classes)
        if not values:
            raise GanforgeError("intra-fd needs at least 2 real and 2 generated samples of some class")
        names = self._names()
        return {"intra_fd": sum(values.values()) / len(values),
                "fd_per_class": {names[c]: value for c, value in values.items()}}
