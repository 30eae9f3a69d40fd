"""Fréchet distance time against scipy, and feature-extraction throughput of the built-in extractors.

    python bench/metrics.py                  # 2048-d Fréchet distance; digits and Inception feature images/s
    python bench/metrics.py --dims 512 2048 --images 256

Inception runs with random weights here (the real file is not downloaded); its speed does not depend on them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg
import torch

from ganforge.features.digits import DigitFeatures
from ganforge.features.inception import FIDInception
from ganforge.metrics.frechet import frechet_distance
from ganforge.training.hardware import set_threads


def scipy_frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """The reference implementation used by the original FID code."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def best_of(repeats: int, work, *args) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = work(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def frechet_table(dims: list[int], repeats: int) -> None:
    print(f"{'dim':>6} {'scipy s':>9} {'ganforge s':>11} {'speed-up':>9} {'relative difference':>20}")
    for dim in dims:
        rng = np.random.default_rng(dim)
        features = [rng.normal(size=(2 * dim, dim)) @ rng.normal(size=(dim, dim)) / dim for _ in range(2)]
        stats = [(f.mean(0), np.cov(f, rowvar=False)) for f in features]
        (mu1, s1), (mu2, s2) = stats
        reference_time, reference = best_of(repeats, scipy_frechet, mu1, s1, mu2, s2)
        tensors = [torch.from_numpy(a) for a in (mu1, s1, mu2, s2)]
        ours_time, ours = best_of(repeats, frechet_distance, *tensors)
        print(f"{dim:>6} {reference_time:>9.3f} {ours_time:>11.3f} {reference_time / ours_time:>8.1f}× "
              f"{abs(ours - reference) / abs(reference):>20.2e}", flush=True)


@torch.no_grad()
def extraction_table(images: int, batch: int) -> None:
    print(f"\n{'extractor':<22} {'input':>12} {'images/s':>10}")
    for name, model, shape in (("digits (shipped)", DigitFeatures(), (1, 32, 32)),
                               ("stacked digits", DigitFeatures(), (3, 32, 32)),
                               ("inception (FID)", FIDInception().eval(), (3, 64, 64))):
        data = torch.rand(images, *shape)
        model(data[:batch])  # warm-up
        start = time.perf_counter()
        for i in range(0, images, batch):
            model(data[i : i + batch])
        rate = images / (time.perf_counter() - start)
        print(f"{name:<22} {'×'.join(map(str, shape)):>12} {rate:>10.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 512, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    threads = set_threads(0, torch.device("cpu"))
    print(f"CPU, {threads} threads, torch {torch.__version__}, scipy {scipy.__version__}\n")
    frechet_table(args.dims, args.repeats)
    extraction_table(args.images, args.batch)


if __name__ == "__main__":
    main()
