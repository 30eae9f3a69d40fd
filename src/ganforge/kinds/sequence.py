"""Time series as a run kind: sequences (N, T, F) train as a `SampleTask` in the shared loop, as images and vectors
do (same resume, EMA, losses, health monitor and checkpoints); what differs is the data (`data/sequences.py`), the
model family (`models/sequence.py`), the metrics (`metrics/sequence.py`) and what `sample` writes: a CSV with one
row per series and step, an (N, T, F) array or line plots."""

from __future__ import annotations

from typing import Any

from ganforge.data import is_sequence_data
from ganforge.kinds.tensor import TensorRuns
from ganforge.training.loop import TrainResult

SERIES_OPTIONS = ("sequence", "window", "time_column", "id_column")


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
