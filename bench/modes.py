"""Mode-collapse benchmark on the PacGAN protocol (Lin et al. 2018, Table 1), our configurations next to the
published rows.

Protocol: `ring` = 8 Gaussians of radius 1, std 0.01; `grid` = 25 Gaussians at {−4,−2,0,2,4}², std 0.05; 100,000
training points. After training, 2,500 samples; a sample is high quality when its Mahalanobis distance to the
nearest mode is below 3 (a disc, as PacGAN's code computes it); a mode is captured when it is the nearest mode of at
least one high-quality sample; reverse KL of the high-quality mode histogram from uniform. N seeds per
configuration, mean ± standard error, CPU time per trial. The column "box" gives the share under the per-axis box
|dx|, |dy| ≤ 3σ that ganforge used before, on the same samples.

    python bench/modes.py --jobs 2                 # both sets, every configuration, 10 seeds, 2 trials at a time
    python bench/modes.py --data ring --configs toy-2d --seeds 3
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import tempfile
import time

import torch

import ganforge
from ganforge.data.toy import grid_modes, ring_modes
from ganforge.metrics import mode_statistics
from ganforge.training.hardware import cpu_name

# Published rows, for context. PacGAN: Lin et al., "PacGAN: The power of two samples in generative adversarial
# networks", NeurIPS 2018, Table 1 (modes, % high quality, reverse KL). VEEGAN: Srivastava et al., "VEEGAN: Reducing
# mode collapse in GANs using implicit variational learning", NeurIPS 2017, Table 1 (modes, % high quality).
PUBLISHED = {
    "ring": [("GAN (PacGAN T1)", 6.3, 98.2, 0.45), ("PacGAN2 (PacGAN T1)", 7.9, 95.6, 0.07),
             ("VEEGAN (VEEGAN T1)", 8.0, 52.9, None)],
    "grid": [("GAN (PacGAN T1)", 17.3, 94.8, 0.70), ("PacGAN4 (PacGAN T1)", 24.8, 93.6, 0.04),
             ("VEEGAN (VEEGAN T1)", 24.6, 40.0, None)],
}
CONFIGS = {
    "minimax (seed MLP)": {"model": "mlp", "loss": "minimax", "steps": 10_000},
    "toy-2d": {"preset": "toy-2d"},
}
MODES = {"ring": (ring_modes, 0.01), "grid": (grid_modes, 0.05)}


def trial(data: str, options: dict, seed: int) -> tuple[dict, float]:
    """One training run at one thread: its mode statistics and its CPU seconds."""
    torch.set_num_threads(1)  # one core per trial, as the CPU times below assume
    start = time.process_time()
    with tempfile.TemporaryDirectory() as out:
        ganforge.train(data, **options, seed=seed, threads=1, out=f"{out}/run", progress=False, sample_every=10**9,
                       checkpoint_every=10**9, log_every=500)
        samples = ganforge.load(f"{out}/run").sample(2500, seed=seed)
    modes, std = MODES[data]
    stats = mode_statistics(samples, modes(), std)
    nearest = torch.cdist(samples.double(), modes().double()).argmin(1)
    stats["high_quality_box"] = float((samples.double() - modes().double()[nearest]).abs().le(3 * std).all(1)
                                      .double().mean())
    return stats, time.process_time() - start


def _trial(args: tuple[str, dict, int]) -> tuple[dict, float]:
    return trial(*args)


def mean_se(values: list[float]) -> str:
    infinite = sum(not math.isfinite(v) for v in values)
    if infinite:  # reverse KL is infinite when a run has no high-quality sample at all
        return f"inf in {infinite}/{len(values)}"
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {se:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["ring", "grid"], choices=list(MODES))
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, help="override the configuration's steps")
    parser.add_argument("--jobs", type=int, default=1, help="trials at a time, one thread each (at most the cores)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {cpu_name()}, 1 thread per trial, {args.jobs} at a time, {args.seeds} seeds; "
          f"mean ± standard error")
    header = f"{'data':<5} {'configuration':<22} {'modes':>13} {'% high quality':>16} {'box':>13} " \
             f"{'reverse KL':>13} {'all modes':>9} {'CPU s/trial':>11}"
    print(header)
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for data in args.data:
            for name, row_modes, row_hq, row_kl in PUBLISHED[data]:
                kl = f"{row_kl:.2f}" if row_kl is not None else "—"
                print(f"{data:<5} {name:<22} {row_modes:>13.1f} {row_hq:>16.1f} {'':>13} {kl:>13} {'':>9} "
                      f"{'(published)':>11}")
            for config in args.configs:
                options = dict(CONFIGS[config])
                if args.steps:
                    options["steps"] = args.steps
                outcomes = pool.map(_trial, [(data, options, seed) for seed in range(args.seeds)])
                results, seconds = [r for r, _ in outcomes], [s for _, s in outcomes]
                full = sum(r["modes"] == r["modes_total"] for r in results)
                print(f"{data:<5} {config:<22} {mean_se([r['modes'] for r in results]):>13} "
                      f"{mean_se([100 * r['high_quality'] for r in results]):>16} "
                      f"{mean_se([100 * r['high_quality_box'] for r in results]):>13} "
                      f"{mean_se([r['reverse_kl'] for r in results]):>13} {full:>4}/{len(results):<4} "
                      f"{statistics.fmean(seconds):>11.1f}", flush=True)


if __name__ == "__main__":
    main()
