"""Feature extractors for Fréchet distance, KID and the k-NN metrics, chosen by name:

- `inception`: the standard FID network (weights from a path or the cache, never downloaded);
- `digits`: the shipped digit classifier's penultimate layer (offline; for digits and stacked digits);
- `raw`: the samples themselves, flattened (vectors, 2-D sets).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ganforge.errors import GanforgeError

FEATURE_KINDS = ("inception", "digits", "raw")
DIGIT_DATASETS = ("digits", "stacked-digits")


def default_features(data_name: str, kind: str) -> str:
    """raw for vectors, digits for the digit datasets, inception for other images."""
    if kind != "image":
        return "raw"
    return "digits" if data_name in DIGIT_DATASETS else "inception"


def get_extractor(name: str, inception_weights: str | Path | None = None) -> nn.Module | None:
    """The network for `name` (None for raw features)."""
    if name == "raw":
        return None
    if name == "digits":
        from ganforge.features.digits import DigitFeatures

        return DigitFeatures()
    if name == "inception":
        from ganforge.features.inception import load_inception

        return load_inception(inception_weights)
    raise GanforgeError(f"unknown features {name!r}; expected one of {', '.join(FEATURE_KINDS)}")


@torch.no_grad()
def extract(extractor: nn.Module | None, draw: Callable[[int, int], Tensor], n: int, batch_size: int,
            device: torch.device, desc: str, progress: bool = True) -> tuple[Tensor, Tensor | None, Tensor]:
    """Draw `n` samples in batches with `draw(start, count)` and pass them through `extractor`.

    Returns (features, logits or None, the samples themselves if they are small vectors, else an empty tensor).
    """
    features, logits, samples = [], [], []
    if extractor is not None:
        extractor = extractor.to(device)
    with tqdm(total=n, desc=desc, unit="sample", disable=not progress, leave=False) as bar:
        for start in range(0, n, batch_size):
            batch = draw(start, min(batch_size, n - start))
            if extractor is None:
                features.append(batch.flatten(1).double().cpu())
                samples.append(batch.double().cpu())
            else:
                feats, logit = extractor(batch.to(device))
                features.append(feats.double().cpu())
                if logit is not None:  # networks without a classifier (the fid extra's Inception) give none
                    logits.append(logit.double().cpu())
            bar.update(len(batch))
    return (torch.cat(features), torch.cat(logits) if logits else None,
            torch.cat(samples) if samples else torch.empty(0))
