"""Fit time of one TableGAN on statsmodels' `fair` (the 80 % split of seed 0, as bench/tabular.py), one thread.

Run it in the environment of bench/tabular.py (which has statsmodels). Prints seconds. To compare two versions of
ganforge, run them in alternation in one window (machine speed drifts by ±15 % between windows), e.g. the code of an
older commit through PYTHONPATH:

    for i in 1 2 3; do
        PYTHONPATH=/path/to/old/checkout/src python bench/table_fit_time.py --target
        python bench/table_fit_time.py --target
    done
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="store_true", help="fit with --target had_affair")
    args = parser.parse_args()
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import tabular as bench

    from ganforge.tabular import TableGAN

    torch.set_num_threads(1)
    frame, target = bench.load_table("fair")
    train, _ = bench.split(frame, 0)
    torch.manual_seed(0)
    start = time.perf_counter()
    TableGAN(seed=0, target=target if args.target else None).fit(train)
    print(f"{time.perf_counter() - start:.2f}")


if __name__ == "__main__":
    main()
