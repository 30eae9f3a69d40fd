"""Size and build time of `report.html` for long image runs (the issue's budget: ≤ 15 MB for 20,000 steps, under
2 s to build for 10,000 steps on 2 cores), on run folders made to look like them: a real 64×64 run's configuration,
one log line every 50 steps, an evaluation every 1,000, a diagnosis, and a sample grid every 500 steps made of real
digits (8×8 images of 64×64, as the default grid).

    python bench/report.py                 # 10,000 and 20,000 steps
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from pathlib import Path

import torch

import ganforge
from ganforge.data import load_dataset
from ganforge.data.export import save_samples
from ganforge.report import build_report


def fake_run(root: Path, steps: int, seed: int = 0) -> Path:
    """A run folder with the files a `steps`-long digits run at 64×64 leaves (grids of real digits)."""
    run = ganforge.train("digits", image_size=64, g_width=8, d_width=8, steps=1, log_every=1, sample_every=1,
                         threads=1, progress=False, out=root / f"run_{steps}").run_dir
    for old in (run / "samples").glob("*.png"):
        old.unlink()
    digits = load_dataset("digits", 64, 1)
    rng = random.Random(seed)
    lines = []
    for step in range(50, steps + 1, 50):
        t = step / steps
        lines.append({"step": step, "d_loss": 1.2 - 0.5 * t + rng.gauss(0, 0.05), "g_loss": 0.8 + t,
                      "d_real": 0.6 + 0.2 * t, "d_fake": 0.4 - 0.2 * t, "seconds": 5.0, "sec_per_step": 0.1,
                      "samples_per_sec": 640.0, "g_grad_norm": 1 + rng.random(), "d_grad_norm": 2 + rng.random(),
                      "threads": 2, "diversity": 0.5 + 0.4 * t, "movement": 0.3 * math.exp(-3 * t)})
        if step % 1000 == 0:
            lines.append({"step": step, "eval": {"fd": 300 * (1 - t) + 20, "kid": 0.1 * (1 - t), "precision": t,
                                                 "recall": t / 2, "density": t, "coverage": t, "n_real": 2000,
                                                 "n_fake": 2000, "seconds": 4.0}})
        if step % 500 == 0:
            images = digits.real_samples(64, seed=step)
            save_samples(images, "image", run / "samples" / f"step_{step:06d}.png")
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (run / "diagnoses.jsonl").write_text(
        json.dumps({"event": "start", "name": "mode_collapse", "step": steps // 4, "evidence": "e", "remedy": "r"})
        + "\n" + json.dumps({"event": "end", "name": "mode_collapse", "step": steps // 3, "evidence": "cleared",
                             "remedy": "r"}) + "\n")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10_000, 20_000])
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"{'steps':>7} {'grids':>6} {'log lines':>9} {'size MB':>8} {'build s (first)':>16} {'build s (again)':>16}")
    with tempfile.TemporaryDirectory() as folder:
        for steps in args.steps:
            run = fake_run(Path(folder), steps)
            start = time.perf_counter()
            page = build_report([run])
            first = time.perf_counter() - start
            start = time.perf_counter()
            build_report([run])  # as when rewritten live: the grids are encoded once
            again = time.perf_counter() - start
            grids = len(list((run / "samples").glob("*.png")))
            print(f"{steps:>7} {grids:>6} {steps // 50:>9} {page.stat().st_size / 1e6:>8.2f} {first:>16.2f} "
                  f"{again:>16.2f}", flush=True)


if __name__ == "__main__":
    main()
