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
        # tensor lists made once: walking the modules every step cost more than the update on small tables
        self._mine, self._mine_buffers = list(self.average.parameters()), list(self.average.buffers())
        self._source: nn.Module | None = None

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        """One EMA step towards the current generator."""
        if self._source is not generator:
            self._source = generator
            self._theirs = list(generator.parameters())  # the tensors themselves: no aliases to go stale
            self._theirs_buffers = list(generator.buffers())
            if len(self._theirs) != len(self._mine) or len(self._theirs_buffers) != len(self._mine_buffers):
                raise ValueError("the EMA's generator and the one given have different tensors")
        torch._foreach_lerp_(self._mine, self._theirs, 1 - self.beta)
        if self._mine_buffers:
            torch._foreach_copy_(self._mine_buffers, self._theirs_buffers)
