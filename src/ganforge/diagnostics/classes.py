"""What the health monitor sees of a conditional run's classes, measured on the fixed samples at each log line.

Two troubles are specific to conditional GANs: one class collapsing while the others are fine (its samples much
less spread than its real samples), and class leakage (samples asked for one class that look like another). Both
are judged in model space against real samples, with no network: spread is the mean pairwise distance within a
class, and a sample's class is the nearest real class mean. A class whose own real samples that nearest-mean rule
gets wrong too often is not judged for leakage, so a hard data set raises nothing it cannot support.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganforge.data import Dataset

REAL_PER_CLASS = 200  # real samples per class for the spread and the class means
REAL_MAX = 5000  # and at most this many in all (1,000 classes of 3,072 values would need gigabytes)
RELIABLE = 0.8  # the nearest-mean rule must place this share of a class's real samples right to judge leakage
MIN_FIXED = 4  # fixed samples a class needs to be judged
CLASS_HEALTH = ("class_diversity_min", "class_diversity_median", "collapsed_class", "leaking_class", "leak_target",
                "leak_share")


class ClassReference:
    """Real per-class spreads and class means of a labelled dataset, to judge generated samples against."""

    def __init__(self, dataset: Dataset, seed: int = 1):
        self.names = dataset.class_names or []
        index = dataset.real_index(min(len(dataset), REAL_PER_CLASS * len(self.names), REAL_MAX), seed)
        real = dataset.codec.encode(dataset.real_samples(len(index), seed)).flatten(1).double()
        labels = dataset.labels[index]
        self.spread: dict[int, float] = {}
        means = torch.zeros(len(self.names), real.shape[1], dtype=torch.float64)
        present = torch.zeros(len(self.names), dtype=torch.bool)
        for c in range(len(self.names)):
            members = real[labels == c][:REAL_PER_CLASS]
            if len(members):
                means[c], present[c] = members.mean(0), True
            if len(members) >= 2:
                self.spread[c] = float(torch.pdist(members).mean())
        self.means, self.present = means, present
        guessed = self.nearest(real)
        self.reliable = {c for c in range(len(self.names)) if bool((labels == c).any())
                         and float((guessed[labels == c] == c).double().mean()) >= RELIABLE}

    def nearest(self, x: Tensor) -> Tensor:
        """The class whose real mean is nearest to each sample."""
        distances = torch.cdist(x.double(), self.means)
        distances[:, ~self.present] = float("inf")
        return distances.argmin(1)

    def judge(self, fake: Tensor, labels: Tensor) -> dict[str, Any]:
        """Spread ratios and the worst leak among classes with enough fixed samples (see `CLASS_HEALTH`)."""
        fake = fake.double()
        ratios: dict[int, float] = {}
        leak: tuple[float, int, int] | None = None
        guessed = self.nearest(fake)
        for c in labels.unique().tolist():
            members = labels == c
            if int(members.sum()) < MIN_FIXED:
                continue
            if c in self.spread and self.spread[c] > 0:
                ratios[c] = float(torch.pdist(fake[members]).mean()) / self.spread[c]
            if c in self.reliable:
                others = guessed[members][guessed[members] != c]
                if len(others):
                    target = int(others.mode().values)
                    share = float((guessed[members] == target).double().mean())
                    if leak is None or share > leak[0]:
                        leak = (share, c, target)
        health: dict[str, Any] = {}
        if ratios:
            worst = min(ratios, key=ratios.get)
            health.update(class_diversity_min=ratios[worst], collapsed_class=self.names[worst],
                          class_diversity_median=float(torch.tensor(list(ratios.values())).median()))
        if leak is not None:
            health.update(leak_share=leak[0], leaking_class=self.names[leak[1]], leak_target=self.names[leak[2]])
        return health
