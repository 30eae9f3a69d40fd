"""Time series on TimeGAN's protocol (Yoon et al. 2019), ganforge's default sequence model beside the published rows
and beside TimeGAN reproduced here with its own setup (bench/timegan_baseline.py).

Protocol: Sines (TimeGAN's `sine_data_generation`: 10,000 series, 24 steps, 5 features) and Stocks (Google's daily
prices, `../shared/data/stock_data.csv`, read as the reference's `real_data_loading` does: the rows flipped, each
column min-max scaled, windows of 24 with stride 1: 3,661 windows of 6 features). As many synthetic series as real
ones. Scores as the reference code computes them (ganforge.metrics.sequence): discriminative |accuracy − 0.5| of a
post-hoc GRU, predictive MAE (train on synthetic, test on real; "real" gives the floor: train on real), and
Diffusion-TS's Context-FID and correlational score. Each fit's time is on this machine's cores.

    python bench/timeseries.py                                   # both sets, ganforge 3 seeds, TimeGAN 1 seed
    python bench/timeseries.py --data sines --seeds 1 --repeats 2 --timegan-iterations 0   # quicker
    python bench/timeseries.py --scaling          # one series of 1,000,000 steps × 20 features, as a CSV
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ganforge
from ganforge.data.sequences import sines
from ganforge.metrics.sequence import context_fid, correlational_on_fifths, discriminative_score, predictive_score
from ganforge.training.hardware import cpu_name

STOCKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "stock_data.csv"
# Published rows, as printed. TimeGAN: NeurIPS 2019, Table 2 (discriminative, predictive; ± a standard deviation).
# Diffusion-TS: Yuan & Qiao, ICLR 2024, Table 1 (context-FID, correlational, discriminative, predictive; the image
# figures/fig2.jpg of Y-debug-sys/Diffusion-TS), the same protocol; its ± is, by its code (Utils/metric_utils.py),
# the half-width of a 95 % t interval over 5 evaluations.
PUBLISHED = {
    "sines": [("TimeGAN (paper, T2)", None, None, "0.011 ± 0.008", "0.093 ± 0.019"),
              ("real data (TimeGAN T2)", None, None, None, "0.094"),
              ("Diffusion-TS (paper, T1)", "0.006 ± .000", "0.015 ± .004", "0.006 ± .007", "0.093 ± .000"),
              ("TimeGAN (Diffusion-TS T1)", "0.101 ± .014", "0.045 ± .010", "0.011 ± .008", "0.093 ± .019"),
              ],
    "stocks": [("TimeGAN (paper, T2)", None, None, "0.102 ± 0.021", "0.038 ± 0.001"),
               ("real data (TimeGAN T2)", None, None, None, "0.036"),
               ("Diffusion-TS (paper, T1)", "0.147 ± .025", "0.004 ± .001", "0.067 ± .015", "0.036 ± .000"),
               ("TimeGAN (Diffusion-TS T1)", "0.103 ± .013", "0.063 ± .005", "0.102 ± .021", "0.038 ± .001"),
               ],
}


def stocks(path: Path = STOCKS) -> np.ndarray:
    """The reference's `real_data_loading('stock', 24)`: flipped rows, min-max per column, windows of 24."""
    table = np.loadtxt(path, delimiter=",", skiprows=1)[::-1]
    table = (table - table.min(0)) / (table.max(0) - table.min(0) + 1e-7)
    return np.stack([table[i : i + 24] for i in range(len(table) - 24)])


def scores(real: np.ndarray, fake: np.ndarray, repeats: int, fid_repeats: int) -> dict[str, list[float]]:
    """The four scores, each repeated with new splits and initial weights."""
    real_t, fake_t = torch.from_numpy(real).float(), torch.from_numpy(fake).float()
    return {
        "context_fid": [context_fid(real_t, fake_t, seed=r) for r in range(fid_repeats)],
        "correlational": [correlational_on_fifths(real_t, fake_t, seed=r) for r in range(5)],
        "discriminative": [discriminative_score(real_t, fake_t, seed=r) for r in range(repeats)],
        "predictive": [predictive_score(fake_t, real_t, seed=r) for r in range(repeats)],
    }


def shown(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} ± {statistics.pstdev(values):.3f}"


def scaling(steps: int, threads: int, length: int = 1_000_000, features: int = 20) -> None:
    """Fit time and peak memory of one long series read from a CSV (windows of 24, stride 1), and sampling speed."""
    import resource

    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=(length, features)), axis=0)  # random walks: every window differs
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.csv"
        start = time.time()
        np.savetxt(path, walk, delimiter=",", fmt="%.5f", header=",".join(f"x{i}" for i in range(features)),
                   comments="")
        print(f"wrote {path.stat().st_size / 1e9:.2f} GB of CSV in {time.time() - start:.0f} s", flush=True)
        start = time.time()
        run = ganforge.train(str(path), sequence=True, window=24, steps=steps, threads=threads, progress=False,
                             out=Path(folder) / "run")
        fit = time.time() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kilobytes on Linux
        generator = ganforge.load(run.run_dir)
        start = time.time()
        generator.sample(100_000, seed=0)
        rate = 100_000 * 24 / (time.time() - start)
    print(f"\n| series | windows | steps | load + fit | peak memory | sampling |\n|---|---|---|---|---|---|\n"
          f"| {length:,} × {features} | {length - 23:,} | {steps:,} | {fit:.0f} s | {peak:.1f} GB | "
          f"{rate:,.0f} rows/s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="sines,stocks")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds of ganforge's default model")
    parser.add_argument("--steps", type=int, default=8000, help="ganforge training steps")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of the discriminative and predictive "
                                                                 "scores per fit (TimeGAN: 10)")
    parser.add_argument("--fid-repeats", type=int, default=1, help="Context-FID repetitions (Diffusion-TS: 5)")
    parser.add_argument("--timegan-iterations", type=int, default=2000,
                        help="iterations per phase of the TimeGAN reproduction (the reference: 50,000; 0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--scaling", action="store_true", help="only the scaling row: one long series")
    parser.add_argument("--stocks", type=Path, default=STOCKS, help=f"the stocks file (default {STOCKS})")
    parser.add_argument("--no-floor", action="store_true", help="leave out the real-data predictive floor")
    parser.add_argument("--table", nargs="+", metavar="JSON", help="only print the table of rows written by --json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.scaling:
        scaling(args.steps, args.threads)
        return
    if args.table:
        rows = [row for path in args.table for row in json.loads(Path(path).read_text())]
        print_table(rows, [d for d in ("sines", "stocks") if any(r["data"] == d for r in rows)])
        return
    rows: list[dict] = []
    for name in args.data.split(","):
        real = sines(10_000, 24, 5, seed=0) if name == "sines" else stocks(args.stocks)
        if not args.no_floor:
            floor = [predictive_score(torch.from_numpy(real).float(), torch.from_numpy(real).float(), seed=r)
                     for r in range(args.repeats)]
            rows.append({"data": name, "model": "real data (here)", "predictive": floor})
            print(json.dumps(rows[-1]), flush=True)
        if args.timegan_iterations:
            from timegan_baseline import TimeGAN

            start = time.time()
            model = TimeGAN(real.shape[-1], seed=0)
            model.fit(real, args.timegan_iterations, log_every=max(1, args.timegan_iterations // 4))
            fit = time.time() - start
            rows.append({"data": name, "model": f"TimeGAN here ({args.timegan_iterations:,} it/phase)",
                         "fit_s": fit, **scores(real, model.sample(len(real)), args.repeats, args.fid_repeats)})
            print(json.dumps(rows[-1]), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"{name}.npy"
                np.save(path, real)
                start = time.time()
                run = ganforge.train(str(path), steps=args.steps, seed=seed, threads=args.threads, progress=False,
                                     out=Path(folder) / "run")
                fit = time.time() - start
                fake = ganforge.load(run.run_dir).sample(len(real), seed=seed).double().numpy()
            rows.append({"data": name, "model": f"ganforge sequence (seed {seed})", "fit_s": fit,
                         **scores(real, fake, args.repeats, args.fid_repeats)})
            print(json.dumps(rows[-1]), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\n{cpu_name()}, {args.threads} threads; ganforge {args.steps:,} steps; scores repeated {args.repeats}× "
          f"(Context-FID {args.fid_repeats}×)\n")
    print_table(rows, args.data.split(","))


def print_table(rows: list[dict], datasets: list[str]) -> None:
    """The published rows, then the measured ones, per data set (markdown)."""
    header = "| data | model | Context-FID | correlational | discriminative | predictive | fit |"
    print(header + "\n|" + "---|" * 7)
    for name in datasets:
        for model, *published in PUBLISHED[name]:
            print(f"| {name} | {model} | " + " | ".join(p or "" for p in published) + " | |")
        order = ("real", "TimeGAN", "ganforge")  # the floor, the baseline reproduced, then the seeds
        mine = sorted((r for r in rows if r["data"] == name),
                      key=lambda r: next(i for i, w in enumerate(order) if r["model"].startswith(w)))
        for row in mine:
            cells = [shown(row[k]) if k in row else "" for k in ("context_fid", "correlational", "discriminative",
                                                                   "predictive")]
            fit = f"{row['fit_s']:.0f} s" if "fit_s" in row else ""
            print(f"| {name} | {row['model']} | " + " | ".join(cells) + f" | {fit} |")
        seeds = [r for r in mine if r["model"].startswith("ganforge")]
        if len(seeds) > 1:
            cells = [f"{statistics.fmean(statistics.fmean(r[k]) for r in seeds):.3f}" for k in
                     ("context_fid", "correlational", "discriminative", "predictive")]
            fit = statistics.fmean(r["fit_s"] for r in seeds)
            print(f"| {name} | **ganforge sequence, mean of {len(seeds)} seeds** | " + " | ".join(cells)
                  + f" | {fit:.0f} s |")


if __name__ == "__main__":
    main()
