"""An exponential moving average of the generator's weights (Karras et al. 2018; Yazıcı et al. 2019): samples from
the average are sharper and steadier than from the last iterate, so it is used for sampling and evaluation."""

from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    """Keeps `average ← β·average + (1 − β)·generator` after each generator step; buffers are copied."""

    def __init__(self, generator: nn.Module, beta: float):
        self.beta = beta
        self.average = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        """One EMA step towards the current generator."""
        averaged = list(self.average.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in generator.parameters()], 1 - self.beta)
        for mine, theirs in zip(self.average.buffers(), generator.buffers(), strict=True):
            mine.copy_(theirs)
