"""Time series as a run kind: sequences (N, T, F) train as a `SampleTask` in the shared loop, as images and vectors
do (same resume, EMA, losses, health monitor and checkpoints); what differs is the data (`data/sequences.py`), the
model family (`models/sequence.py`), the metrics (`metrics/sequence.py`) and what `sample` writes: a CSV with one
row per series and step, an (N, T, F) array or line plots."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ganforge.data import is_sequence_data
from ganforge.errors import GanforgeError
from ganforge.kinds.generator import load
from ganforge.kinds.tensor import TensorRuns, _real_vectors
from ganforge.training.loop import TrainResult

SERIES_OPTIONS = ("sequence", "window", "time_column", "id_column", "static_columns")


class SequenceRuns(TensorRuns):
    """Runs on time series: the built-in sines, (N, T, F) arrays, and CSV or array series read with `--sequence`
    (or any of `--window`, `--time-column`, `--id-column`)."""

    name = "sequence"

    def claims(self, data: str, options: dict[str, Any]) -> bool:
        return is_sequence_data(data, asked=any(options.get(key) for key in SERIES_OPTIONS))

    def report(self, result: TrainResult, command: str = "ganforge") -> list[str]:
        lines = super().report(result, command)
        if result.interrupted:
            return lines
        run = result.run_dir
        return [*lines[:-2], f"  more series:  {command} sample {run} --n 1000 --out synthetic.csv",
                f"  measure it:   {command} eval {run}  (TimeGAN's and Diffusion-TS's scores, each repeated as "
                "its paper does: about 15 minutes on 2 cores; --repeats 1 for a first look)"]

    def sample(self, args: argparse.Namespace) -> int:
        if args.label is not None:
            raise GanforgeError("--class applies to class-conditional image and vector runs; a series' attributes "
                                "are fixed with --where COLUMN=VALUE (train with --static-columns)")
        generator = load(args.run, checkpoint=args.checkpoint, device=args.device)
        n = 64 if args.n is None else args.n
        series, attributes = generator.sample_series(n, args.seed, args.batch_size, not args.quiet,
                                                     parse_attributes(args.where), args.truncation,
                                                     args.truncation_mode)
        reference = _real_vectors(args.run, n) if Path(args.out).suffix.lower() in {".png", ".jpg", ".jpeg"} \
            else None
        path = generator.save(series, args.out, reference, statics=attributes)
        fixed = f" with {', '.join(args.where)}" if args.where else ""
        print(f"wrote {n} series{fixed} from step {generator.step} to {path}")
        return 0


def parse_attributes(conditions: list[str] | None) -> dict[str, str]:
    """`["ward=ICU", "age=70"]` → {"ward": "ICU", "age": "70"}; a one-line error for anything else."""
    found = {}
    for text in conditions or []:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise GanforgeError(f"--where expects column=value (e.g. ward=ICU), got {text!r}")
        found[name.strip()] = value.strip()
    return found
