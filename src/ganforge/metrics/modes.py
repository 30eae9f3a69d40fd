"""Mode coverage on the built-in Gaussian mixtures, on the published protocol (VEEGAN, PacGAN Table 1), as PacGAN's
own code computes it (`pacgan/extensions.py`): a generated sample is high quality when its Mahalanobis distance to
the nearest mode, √(Σ d²/σ²), is below 3 (a disc; 98.89 % of a perfect Gaussian's samples); a mode is captured when
it is the nearest mode of at least one high-quality sample; the reverse KL divergence compares the mode histogram
of high-quality samples with the uniform distribution over modes. On the digit sets, modes are the classes the
shipped classifier assigns."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from ganforge.features import DIGIT_DATASETS
from ganforge.metrics.base import Context, Metric, register_metric


def mode_statistics(samples: Tensor, modes: Tensor, std: float) -> dict[str, float]:
    """Modes captured, share of high-quality samples and KL(high-quality mode histogram ‖ uniform) for samples of
    an isotropic mixture with centres `modes` and per-axis standard deviation `std`."""
    samples, modes = samples.double(), modes.double()
    distances = torch.cdist(samples, modes)
    nearest_distance, nearest = distances.min(1)
    high_quality = nearest_distance / std < 3  # Mahalanobis distance of an isotropic Gaussian
    counts = torch.bincount(nearest[high_quality], minlength=len(modes)).double()
    total = counts.sum()
    if total > 0:
        p = counts / total
        nonzero = p > 0
        kl = float((p[nonzero] * (p[nonzero] * len(modes)).log()).sum())
    else:
        kl = math.inf
    return {"modes": int((counts > 0).sum()), "modes_total": len(modes),
            "high_quality": float(high_quality.double().mean()), "reverse_kl": kl}


@register_metric
class ModeCoverage(Metric):
    """Modes reached: by nearest centre on the mixtures (`ring`, `grid`), by classifier on the digit sets."""

    name = "modes"
    description = "modes reached: on ring/grid by the PacGAN protocol, on the digit sets by the digit classifier"
    values: ClassVar[dict[str, str | None]] = {"modes": "max", "modes_total": None, "high_quality": "max",
                                               "reverse_kl": "min", "kl_uniform": "min"}

    @classmethod
    def unavailable(cls, context: Context) -> str | None:
        if "modes" in context.dataset.info:
            return None
        if context.dataset.name in DIGIT_DATASETS:
            if context.features == "digits":
                return None
            return (f"metric modes on {context.dataset.name} counts the classes the digit classifier assigns, so it "
                    f"needs --features digits (not {context.features})")
        return (f"metric modes is defined for ring, grid and (with --features digits) digits and stacked-digits, "
                f"not for {context.dataset.name}")

    @classmethod
    def values_for(cls, context: Context) -> dict[str, str | None]:
        kept = ("modes", "modes_total", "high_quality", "reverse_kl") if "modes" in context.dataset.info else \
            ("modes", "modes_total", "kl_uniform")
        return {name: cls.values[name] for name in kept}

    @classmethod
    def create(cls, context: Context) -> Metric:
        info = context.dataset.info
        if "modes" in info:
            return MixtureModes(torch.tensor(info["modes"]), info["mode_std"])
        return ClassifierModes()


class MixtureModes(ModeCoverage):
    """Mode statistics of generated samples on a mixture with known centres (`ring`, `grid`)."""

    needs = "samples"

    def __init__(self, modes: Tensor, std: float):
        self.modes, self.std = modes, std
        super().__init__()

    def compute(self) -> dict[str, float]:
        _, fake = self._gathered(need_real=False)
        return mode_statistics(fake, self.modes, self.std)


def label_histogram_statistics(labels: Tensor, classes: int) -> dict[str, float]:
    """Modes hit and KL(generated label histogram ‖ uniform), as in the Stacked-MNIST literature."""
    counts = torch.bincount(labels, minlength=classes).double()
    p = counts / counts.sum()
    nonzero = p > 0
    return {"modes": int(nonzero.sum()), "modes_total": classes,
            "kl_uniform": float((p[nonzero] * (p[nonzero] * classes).log()).sum())}


class ClassifierModes(ModeCoverage):
    """Modes hit by generated samples according to a classifier (digits: 10; stacked digits: 1,000).

    Fed with the classifier's logits; for stacked digits the logits are (N, 3, 10), one digit per channel.
    """

    needs = "labels"

    def compute(self) -> dict[str, float]:
        _, logits = self._gathered(need_real=False)
        if logits.ndim == 3:  # stacked: mode = d₀·100 + d₁·10 + d₂
            digits = logits.argmax(-1)
            weights = 10 ** torch.arange(digits.shape[1] - 1, -1, -1)
            return label_histogram_statistics((digits * weights).sum(1), 10 ** digits.shape[1])
        return label_histogram_statistics(logits.argmax(-1), logits.shape[-1])
