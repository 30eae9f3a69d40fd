"""Stacked digits (1,000 modes): modes hit and KL(generated ‖ uniform) by 26,000 samples, judged by the shipped
digit classifier, for the DCGAN recipe (baseline), ganforge's image presets and the fastgan family.

For context only, the published Stacked-MNIST rows (a different dataset: MNIST, not scikit-learn's 8×8 digits):
DCGAN 99 modes (VEEGAN paper, Srivastava et al. 2017, Table 2), VEEGAN 150 (same table), PacDCGAN2 1000 modes with
KL 0.06 (PacGAN paper, Lin et al. 2018, Table 3).

    python bench/stacked_digits.py --steps 3000 --seeds 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

import ganforge
from ganforge.features.digits import DigitFeatures
from ganforge.metrics import ClassifierModes

CONFIGS = {  # the DCGAN recipe is the baseline; the others are ganforge's image presets
    "dcgan-32 (baseline)": {"preset": "dcgan-32"},
    "sngan-32": {"preset": "sngan-32"},
    "r3gan-lite": {"preset": "r3gan-lite", "image_size": 32},
    "fastgan (defaults)": {"model": "fastgan", "image_size": 32},  # stacked digits is built in: no augmentation
}
PUBLISHED = [("DCGAN (VEEGAN T2, MNIST)", "99", "3.40"), ("VEEGAN (VEEGAN T2, MNIST)", "150", "2.95"),
             ("PacDCGAN2 (PacGAN T3, MNIST)", "1000", "0.06")]


@torch.no_grad()
def modes_of(run_dir: str, n: int, seed: int) -> dict:
    generator = ganforge.load(run_dir)
    classifier, metric = DigitFeatures(), ClassifierModes()
    for start in range(0, n, 1000):
        images = generator.sample(min(1000, n - start), seed=seed * 1000 + start)
        metric.update(classifier(images)[1], real=False)
    return metric.compute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--samples", type=int, default=26_000)
    parser.add_argument("--threads", type=int, default=0, help="0 = one per core")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"stacked-digits 32×32, {args.steps} steps, {args.seeds} seed(s), {args.samples} samples, torch "
          f"{torch.__version__}")
    print(f"{'configuration':<36} {'modes (of 1000)':>16} {'KL':>8} {'train s':>8}")
    for name, modes, kl in PUBLISHED:
        print(f"{name:<36} {modes:>16} {kl:>8} {'':>8}")
    for name in args.configs:
        options = CONFIGS[name]
        results, seconds = [], []
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                ganforge.train("stacked-digits", **options, steps=args.steps, seed=seed, out=f"{out}/r",
                               threads=args.threads,
                               progress=False, sample_every=10**9, checkpoint_every=10**9, log_every=500)
                seconds.append(time.perf_counter() - start)
                results.append(modes_of(f"{out}/r", args.samples, seed))
        mean_modes = statistics.fmean(r["modes"] for r in results)
        mean_kl = statistics.fmean(r["kl_uniform"] for r in results)
        print(f"{name:<36} {mean_modes:>16.1f} {mean_kl:>8.3f} {statistics.fmean(seconds):>8.0f}", flush=True)


if __name__ == "__main__":
    main()
