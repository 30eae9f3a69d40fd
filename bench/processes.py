"""Images/s of one training process against `--nproc N` processes (torchrun, DDP over gloo) on this machine's CPU,
at the same global batch: what splitting a run over processes costs or gains here.

Each configuration trains `--steps` steps (the first `--steps`/2 are a warm-up) through the command line, one
configuration at a time, alternating for `--rounds` rounds; the table reports the median round.

    python bench/processes.py                         # dcgan 32x32, global batch 64: 1 process vs 2
    python bench/processes.py --size 64 --nproc 1 2 4 --steps 40
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from ganforge.training.hardware import available_cores, cpu_name


def images_per_second(processes: int, args: argparse.Namespace, folder: Path) -> float:
    """Global images/s over the second half of a run with `processes` processes."""
    out = folder / f"run-{processes}-{len(list(folder.iterdir()))}"
    half = args.steps // 2
    command = [sys.executable, "-m", "ganforge", "train", "--data", args.data, "--image-size", str(args.size),
               "--model", args.model, "--batch-size", str(args.batch // processes), "--steps", str(args.steps),
               "--log-every", str(half), "--sample-every", "1000000", "--checkpoint-every", "1000000",
               "--no-diagnose", "--augment-p", "off", "--precision", "fp32", "--quiet", "--out", str(out)]
    if processes > 1:
        command[3:3] = ["--nproc", str(processes)]
    subprocess.run(command, check=True, capture_output=True)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["samples_per_sec"] for r in records if "samples_per_sec" in r][-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64, help="global batch (split over the processes)")
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"{cpu_name()}, {available_cores()} cores, torch {torch.__version__}; {args.model} {args.size}×{args.size}, "
          f"global batch {args.batch}, fp32, {args.rounds} rounds (median)")
    results: dict[int, list[float]] = {n: [] for n in args.nproc}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for n in args.nproc:
                results[n].append(images_per_second(n, args, Path(folder)))
    base = statistics.median(results[args.nproc[0]])
    print("| processes | batch per process | img/s (all processes) | vs first row |")
    print("|---:|---:|---:|---:|")
    for n in args.nproc:
        value = statistics.median(results[n])
        print(f"| {n} | {args.batch // n} | {value:.1f} | {value / base:.2f}× |")


if __name__ == "__main__":
    main()
