"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) ‖ p(y))), mean ± std over splits, from a
classifier's logits on generated samples (Inception's for natural images, the digit classifier's for digits).

Logits of shape (N, C, K) come from C classifiers applied apart (stacked digits: one digit per channel): the score
is computed per classifier over its K classes and averaged, so a perfect stacked-digit generator scores about 10,
as each channel's digit does.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ganforge.metrics.base import Context, Metric, register_metric


def inception_scores(logits: Tensor, splits: int) -> Tensor:
    """exp(mean KL(p(y|x) ‖ p(y))) of (N, K) logits in each of `splits` consecutive parts."""
    log_p = torch.log_softmax(logits.double(), dim=-1)
    scores = []
    for part in torch.tensor_split(log_p, min(splits, len(log_p))):
        log_marginal = torch.logsumexp(part, 0) - torch.log(torch.tensor(float(len(part)), dtype=part.dtype))
        scores.append((part.exp() * (part - log_marginal)).sum(-1).mean().exp())
    return torch.stack(scores)


@register_metric
class InceptionScore(Metric):
    """Higher is better: confident per-sample predictions that together cover all classes."""

    name = "is"
    description = "Inception Score from the classifier's logits (inception or digits features)"
    needs = "labels"
    values: ClassVar[dict[str, str | None]] = {"is": "max", "is_std": None}

    def __init__(self, splits: int = 10):
        self.splits = splits
        super().__init__()

    @classmethod
    def unavailable(cls, context: Context) -> str | None:
        if context.features == "raw":
            return "metric is needs class logits; use --features digits or inception"
        if context.extractor is not None and not getattr(context.extractor, "has_classifier", True):
            return ("metric is needs the Inception classifier, which only pt_inception-2015-12-05-6726825d.pth holds "
                    "(the fid extra's network has none): pass it with --inception-weights, or leave is out")
        return None

    def compute(self) -> dict[str, float]:
        _, logits = self._gathered(need_real=False)
        if logits.ndim == 3:  # one classifier per channel: score each, then average
            per_classifier = [inception_scores(logits[:, c], self.splits) for c in range(logits.shape[1])]
            values = torch.stack(per_classifier).mean(0)
        else:
            values = inception_scores(logits, self.splits)
        return {"is": float(values.mean()), "is_std": float(values.std(unbiased=False)) if len(values) > 1 else 0.0}
