"""Two runs on one machine: each run's time per step alone and beside a second run, with ganforge's thread policy
and with the one it had before (every run kept a thread per core for its whole life).

    python bench/contention.py                 # image (dcgan on digits) and vector (mlp on ring) runs, both policies
    python bench/contention.py --seconds 40 --policies current

Each measurement starts the runs with `ganforge train` in separate processes, lets them train for `--seconds`, stops
them with Ctrl-C (SIGINT: a checkpoint, then exit) and reads the median of their logged seconds per step, leaving out
the first two log intervals (warm-up, and the seconds a run takes to notice the other). Pairs start together and are
stopped together, so they overlap throughout. Run it on an otherwise idle machine, and one benchmark at a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ganforge.training.hardware import available_cores, cpu_name

RUNS = {
    "image": ["--data", "digits", "--image-size", "32", "--log-every", "5"],
    "vector": ["--data", "ring", "--log-every", "25"],
}
SCENARIOS = [("image",), ("vector",), ("image", "image"), ("vector", "vector"), ("image", "vector")]
# What ganforge did before: a thread per core for the whole run, whatever else ran (a fixed --threads does that still).
BEFORE = {"env": {}, "args": ["--threads", str(available_cores())]}


def start(kind: str, folder: Path, policy: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "ganforge.cli", "train", *RUNS[kind], "--steps", "1000000", "--no-diagnose",
               "--sample-every", "1000000", "--checkpoint-every", "1000000", "--out", str(folder), "--quiet"]
    env = dict(os.environ)
    if policy == "before":
        command += BEFORE["args"]
        env.update(BEFORE["env"])
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def seconds_per_step(folder: Path) -> float:
    """Median logged seconds per step after the first two intervals; all of them when a run logged fewer than 3
    (a collapsed run); infinity when it logged none."""
    path = folder / "metrics.jsonl"
    times = [json.loads(line)["sec_per_step"] for line in path.read_text().splitlines()] if path.exists() else []
    if not times:
        return math.inf
    return statistics.median(times[2:] if len(times) > 2 else times)


def measure(kinds: tuple[str, ...], policy: str, seconds: float) -> list[float]:
    """Milliseconds per step of each run in `kinds`, started and stopped together."""
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / f"run{i}" for i in range(len(kinds))]
        processes = [start(kind, folder, policy) for kind, folder in zip(kinds, folders, strict=True)]
        time.sleep(seconds)
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            _, err = process.communicate(timeout=300)
            if process.returncode not in (0, 130):
                raise SystemExit(f"a run failed: {err.strip().splitlines()[-1] if err.strip() else process.returncode}")
        return [1000 * seconds_per_step(folder) for folder in folders]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="training time per measurement")
    parser.add_argument("--policies", nargs="+", default=["current", "before"], choices=["current", "before"])
    args = parser.parse_args()
    print(f"{cpu_name()}, {available_cores()} cores; {args.seconds:g} s per measurement; ms per step (median)")
    alone: dict[tuple[str, str], float] = {}
    print(f"\n{'policy':<8} {'runs':<16} {'ms/step':>22} {'× alone':>16}")
    for policy in args.policies:
        for kinds in SCENARIOS:
            times = measure(kinds, policy, args.seconds)
            if len(kinds) == 1:
                alone[(policy, kinds[0])] = times[0]
            ratios = [t / alone[(policy, kind)] for t, kind in zip(times, kinds, strict=True)]
            print(f"{policy:<8} {' + '.join(kinds):<16} {' / '.join(f'{t:.1f}' for t in times):>22} "
                  f"{' / '.join(f'{r:.2f}' for r in ratios):>16}", flush=True)
    if {"current", "before"} <= set(args.policies):
        print("\nalone, current policy against the one before (1.00 = as fast):")
        for kind in RUNS:
            print(f"  {kind:<7} {alone[('current', kind)] / alone[('before', kind)]:.3f}")


if __name__ == "__main__":
    main()
