"""One TableGAN configuration on one benchmark table over several seeds: quality (ganforge's report, equal to
SDMetrics' on these tables), efficacy, exact copies and fit time, with bench/tabular.py's split and scoring.

Used to choose TableGAN's defaults (bench/RESULTS.md, "How TableGAN got there"); runs in bench/tabular.py's
environment (SDV reads the column types, as there):

    /tmp/benchenv/bin/python bench/tabular_sweep.py fair --options "{'target': 'had_affair', 'epochs': 60}"
"""

from __future__ import annotations

import argparse
import ast
import statistics
import time
import warnings

import torch
from tabular import load_table, our_scores, scoring_kinds, sdv_metadata, split

from ganforge.tabular import TableGAN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", choices=["fair", "randhie", "fair-missing"])
    parser.add_argument("--options", default="{}", help="TableGAN options as a Python dict literal")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    options = ast.literal_eval(args.options)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    frame, target = load_table(args.table)
    kinds = scoring_kinds(sdv_metadata(frame))
    rows = []
    for seed in args.seeds:
        train, test = split(frame, seed)
        start = time.perf_counter()
        model = TableGAN(seed=seed, **options).fit(train)
        seconds = time.perf_counter() - start
        synthetic = model.sample(len(train), seed=seed)
        scores = our_scores(train, test, synthetic, kinds, target, seed)
        rows.append((scores["ours"], scores["efficacy"]["score"], scores["privacy"]["exact_copies"], seconds))
        print(f"  seed {seed}: quality {rows[-1][0]:.3f} efficacy {rows[-1][1]:.3f} copies {rows[-1][2]:.1%} "
              f"fit {seconds:.1f} s", flush=True)
    mean = [statistics.fmean(r[i] for r in rows) for i in range(4)]
    print(f"{args.table} {options}: quality {mean[0]:.3f} efficacy {mean[1]:.3f} copies {mean[2]:.1%} "
          f"fit {mean[3]:.1f} s")


if __name__ == "__main__":
    main()
