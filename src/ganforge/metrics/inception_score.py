"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) ‖ p(y))), mean ± std over splits, from a
classifier's logits on generated samples (Inception's for natural images, the digit classifier's for digits)."""

from __future__ import annotations

import torch

from ganforge.metrics.base import Metric


class InceptionScore(Metric):
    """Higher is better: confident per-sample predictions that together cover all classes."""

    name = "is"
    needs = "labels"
    lower_is_better = False

    def __init__(self, splits: int = 10):
        self.splits = splits
        super().__init__()

    def compute(self) -> dict[str, float]:
        _, logits = self._gathered(need_real=False)
        log_p = torch.log_softmax(logits.double(), dim=1)
        scores = []
        for part in torch.tensor_split(log_p, min(self.splits, len(log_p))):
            log_marginal = torch.logsumexp(part, 0) - torch.log(torch.tensor(float(len(part)), dtype=part.dtype))
            kl = (part.exp() * (part - log_marginal)).sum(1).mean()
            scores.append(kl.exp())
        values = torch.stack(scores)
        return {"is": float(values.mean()), "is_std": float(values.std(unbiased=False)) if len(values) > 1 else 0.0}
