"""Mode coverage on the built-in Gaussian mixtures, on the published protocol (VEEGAN, PacGAN Table 1):
a generated sample is high quality when it lies within 3 standard deviations (per axis) of its nearest mode; a mode
is captured when it is the nearest mode of at least one high-quality sample; the reverse KL divergence compares the
mode histogram of high-quality samples with the uniform distribution over modes."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganforge.metrics.base import Metric


def mode_statistics(samples: Tensor, modes: Tensor, std: float) -> dict[str, float]:
    """Modes captured, % high quality and KL(high-quality mode histogram ‖ uniform) for 2-D samples."""
    samples, modes = samples.double(), modes.double()
    nearest = torch.cdist(samples, modes).argmin(1)
    high_quality = (samples - modes[nearest]).abs().le(3 * std).all(1)
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


class MixtureModes(Metric):
    """Mode statistics of generated samples on a mixture with known centres (`ring`, `grid`)."""

    name = "modes"
    needs = "samples"
    lower_is_better = False

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


class ClassifierModes(Metric):
    """Modes hit by generated samples according to a classifier (digits: 10; stacked digits: 1,000).

    Fed with the classifier's logits; for stacked digits the logits are (N, 3, 10), one digit per channel.
    """

    name = "modes"
    needs = "labels"
    lower_is_better = False

    def compute(self) -> dict[str, float]:
        _, logits = self._gathered(need_real=False)
        if logits.ndim == 3:  # stacked: mode = d₀·100 + d₁·10 + d₂
            digits = logits.argmax(-1)
            weights = 10 ** torch.arange(digits.shape[1] - 1, -1, -1)
            return label_histogram_statistics((digits * weights).sum(1), 10 ** digits.shape[1])
        return label_histogram_statistics(logits.argmax(-1), logits.shape[-1])
