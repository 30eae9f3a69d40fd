"""What a training run writes besides its own files: `report.html`, rewritten live, and TensorBoard event files."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from ganforge.errors import GanforgeError

log = logging.getLogger("ganforge")
LIVE_SHARE = 0.02  # a live report is rewritten only while building it costs at most this share of training time
TB_FOLDER = "tb"


class LiveReport:
    """Rewrites a run's report while it trains, but only while that costs at most `LIVE_SHARE` of the time since
    training began (the first and the last are always written). A report that fails to build is a warning: it
    never stops a run."""

    def __init__(self, run_dir: Path):
        self.run_dir, self.started, self.spent, self.last_cost = run_dir, time.perf_counter(), 0.0, 0.0
        self.warned, self.built_from = False, None

    def _inputs(self) -> tuple:
        """What the report is made of, by size and modification time: unchanged inputs, unchanged report."""
        files = [self.run_dir / name for name in ("config.json", "metrics.jsonl", "diagnoses.jsonl", "eval.json",
                                                  "checkpoints/best.json")]
        files += sorted((self.run_dir / "samples").glob("*.png"))
        return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.exists())

    def update(self, final: bool = False) -> Path | None:
        """Rebuild `report.html` if the budget allows (always when `final`, unless nothing changed since)."""
        from ganforge.report import REPORT_FILE, build_report

        elapsed = time.perf_counter() - self.started
        if not final and self.spent and self.spent + self.last_cost > LIVE_SHARE * elapsed:
            return None
        begin = time.perf_counter()
        try:
            inputs = self._inputs()
            if inputs == self.built_from and (self.run_dir / REPORT_FILE).exists():
                return self.run_dir / REPORT_FILE
            path = build_report([self.run_dir])
            if self.built_from is None and not final:
                log.info("report: %s (open it now and reload it as training goes on)", path)
            self.built_from = inputs
            return path
        except Exception as error:  # a report must never end a training run
            if not self.warned:
                log.warning("could not write %s/report.html (%s); training goes on", self.run_dir, error)
                self.warned = True
            return None
        finally:  # a failed build counts against the budget too
            self.last_cost = time.perf_counter() - begin
            self.spent += self.last_cost


class TensorBoardWriter:
    """Scalars and every sample grid as TensorBoard events under `RUN/tb/` (PyTorch's own SummaryWriter). Open
    them with `tensorboard --logdir RUN/tb --samples_per_plugin images=0`: TensorBoard shows 10 images per tag
    unless told to keep them all."""

    def __init__(self, run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise GanforgeError("option --tensorboard needs the tensorboard package: pip install "
                                "'ganforge[tensorboard]'") from None
        self.folder, self.make, self._writer = run_dir / TB_FOLDER, SummaryWriter, None

    def _at(self, step: int) -> Any:
        """The writer, made at the first event: a resumed run's first step purges the events an interrupted run
        wrote after its checkpoint, which it is about to write again."""
        if self._writer is None:
            self._writer = self.make(str(self.folder), purge_step=step)
        return self._writer

    def scalars(self, record: dict[str, Any]) -> None:
        step = record.get("step", 0)
        values = record.get("eval", record)
        prefix = "eval" if "eval" in record else "train"
        for key, value in values.items():
            if key != "step" and isinstance(value, int | float) and not isinstance(value, bool) \
                    and math.isfinite(value):
                self._at(step).add_scalar(f"{prefix}/{key}", value, step)

    def grid(self, step: int, path: Path) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(path) as image:
            self._at(step).add_image("samples", np.asarray(image.convert("RGB")), step, dataformats="HWC")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class RunSinks:
    """The live report and, with `--tensorboard`, the event files of one training run."""

    def __init__(self, run_dir: Path, tensorboard: bool = False):
        self.report = LiveReport(run_dir)
        self.tensorboard = TensorBoardWriter(run_dir) if tensorboard else None

    def metrics(self, record: dict[str, Any]) -> None:
        """A log line or an evaluation."""
        self._tensorboard("scalars", record)

    def grid(self, step: int, path: Path) -> None:
        """A new sample grid: into TensorBoard, and the report is rewritten (within its budget)."""
        self._tensorboard("grid", step, path)
        self.report.update()

    def finish(self) -> None:
        """Training stopped (finished, interrupted or failed): the last report, and the event files flushed."""
        self.report.update(final=True)
        self._tensorboard("close")

    def _tensorboard(self, method: str, *args: Any) -> None:
        """Write to TensorBoard; a failure (a full disk) is a warning and ends the event files, not the run."""
        if self.tensorboard is None:
            return
        try:
            getattr(self.tensorboard, method)(*args)
        except Exception as error:
            log.warning("TensorBoard events stopped (%s); training goes on", error)
            self.tensorboard = None
