"""Step time against PyTorch's thread count, for a small (mlp on `ring`) and a large (DCGAN 32×32) model.

On a small machine, more busy threads than cores make them wait for each other; this shows the cost and checks that
ganforge's default (`--threads 0`: one per free core) is the fastest choice.

    python bench/threads.py --threads 1 2 4 8
"""

from __future__ import annotations

import argparse
import tempfile

import torch

import ganforge
from ganforge.training.hardware import available_cores
from ganforge.training.run_folder import RunFolder

CASES = {
    "mlp ring": dict(data="ring", model="mlp", steps=300),
    "dcgan digits 32": dict(data="digits", image_size=32, steps=30),
}


def seconds_per_step(threads: int, case: dict) -> float:
    with tempfile.TemporaryDirectory() as out:
        ganforge.train(**case, threads=threads, out=f"{out}/r", progress=False, log_every=case["steps"] // 3,
                       sample_every=10**9, checkpoint_every=10**9)
        records = RunFolder(f"{out}/r").read_metrics()
    return min(r["sec_per_step"] for r in records[1:])  # skip the first interval: it holds the warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    print(f"{available_cores()} cores available; ganforge's default is {available_cores()} threads")
    print(f"{'case':<16} " + " ".join(f"{t:>3} thr ms/step" for t in args.threads))
    for name, case in CASES.items():
        times = []
        for threads in args.threads:
            times.append(seconds_per_step(threads, case) * 1000)
            torch.set_num_threads(available_cores())
        print(f"{name:<16} " + " ".join(f"{t:>15.2f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
