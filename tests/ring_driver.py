"""One ring run for the shared `ring_runs` fixture, in its own process so that two can train side by side (one
thread each) on a 2-core machine: `python ring_driver.py NAME SEED STEPS OUT` writes OUT/ring_stats.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ganforge
from ganforge.data.toy import ring_modes
from ganforge.metrics import mode_statistics
from ganforge.training.run_folder import RunFolder


def main(name: str, seed: int, steps: int, out: Path) -> None:
    """Train the ring with the vector defaults (or the minimax loss) and write its mode statistics and findings."""
    options = {"loss": "minimax"} if name == "minimax" else {}
    run = ganforge.train("ring", model="mlp", steps=steps, seed=seed, threads=1, precision="auto", out=out,
                         progress=False, **options)
    samples = ganforge.load(run.run_dir).sample(2500, seed=0)
    stats = mode_statistics(samples, ring_modes(), 0.01)
    stats["findings"] = sorted({e["name"] for e in RunFolder(run.run_dir).read_diagnoses()})
    stats["precision"] = json.loads((run.run_dir / "config.json").read_text())["runtime"]["precision"]
    (run.run_dir / "ring_stats.json").write_text(json.dumps(stats))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
