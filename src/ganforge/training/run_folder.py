"""The run folder: `config.json`, `metrics.jsonl`, `samples/` and `checkpoints/`, all plain files."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.training.checkpoint import (
    atomic_write_text,
    find_checkpoint,
    plain_json,
    remove_partial_writes,
    write_json,
)

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
DIAGNOSES_FILE = "diagnoses.jsonl"
LOCK_FILE = ".lock"
# What a new run was started with, written as soon as its folder is locked and removed once config.json exists: a
# run killed before then (kill -9 during start-up) is started again by `ganforge train --resume`.
START_FILE = "start.json"
# a full disk or quota, or a read-only file system: wherever they happen, nothing more can be written
NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
# an impossible or forbidden path: a write failure when it is inside the run folder (elsewhere, e.g. an unreadable
# image, the error is the data's and passes through)
PATH_ERRNOS = {errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM}

FINAL_SERIES_FILE = "final_series.npy"  # in samples/: the series a finished time-series run ends with
FINAL_ATTRIBUTES_FILE = "final_attributes.json"  # beside it: their attributes, by column (series with attributes)


def default_run_path(name: str) -> Path:
    """`runs/NAME`, or `runs/NAME-2`, `-3`, … when that already holds a run (nothing is overwritten)."""
    base = Path("runs") / name
    candidate, n = base, 1
    while (candidate / CONFIG_FILE).exists() or (candidate / START_FILE).exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


class RunFolder:
    """Paths and small file operations of one run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_path = self.path / CONFIG_FILE
        self.metrics_path = self.path / METRICS_FILE
        self.samples = self.path / "samples"
        self.checkpoints = self.path / "checkpoints"
        self.start_path = self.path / START_FILE

    @classmethod
    def new(cls, out: str | Path) -> RunFolder:
        """A new run at `out` (created on its first write); refuses a folder that already holds a run, so nothing
        is overwritten."""
        run = cls(out)
        if run.config_path.exists():
            raise GanforgeError(
                f"{run.path} already holds a run; continue it with --resume {run.path} or choose another --out"
            )
        if run.path.exists() and not run.path.is_dir():
            raise GanforgeError(f"--out {run.path} exists and is not a folder")
        return run

    @classmethod
    def open(cls, path: str | Path, unstarted: bool = False) -> RunFolder:
        """An existing run; a folder without `config.json` is refused by name. `unstarted`: also a run stopped
        before it wrote `config.json` (see `START_FILE`), which only `--resume` can use."""
        run = cls(path)
        if not run.path.is_dir():
            raise GanforgeError(f"run folder {run.path} does not exist")
        if not run.config_path.is_file():
            if run.start_path.is_file():
                if unstarted:
                    return run
                raise GanforgeError(f"run {run.path} was stopped before its first step; `ganforge train --resume "
                                    f"{run.path}` starts it again")
            raise GanforgeError(f"{run.path} is not a ganforge run folder (no {CONFIG_FILE}); expected the --out of "
                                f"an earlier `ganforge train`")
        return run

    @property
    def started(self) -> bool:
        """Whether the run got as far as writing `config.json` (else only its start record may exist)."""
        return self.config_path.is_file()

    def read_start(self) -> dict[str, Any]:
        """The start record of a run stopped before `config.json` existed: {kind, options, given}."""
        try:
            record = json.loads(self.start_path.read_text(encoding="utf-8"))
            given = record["given"]
            return {"kind": record["kind"], "options": dict(record["options"]),
                    "given": None if given is None else list(given)}
        except (OSError, ValueError, KeyError, TypeError):
            raise GanforgeError(f"{self.start_path} is not a start record written by ganforge; delete the folder "
                                f"{self.path} and train again") from None

    @contextlib.contextmanager
    def lock(self, new: bool = False, start: dict[str, Any] | None = None) -> Iterator[None]:
        """Hold the run folder for this process; a second process writing the same run is refused by name.

        The lock is the kernel's (`flock` on `.lock`): it ends with the process that holds it, so a run killed with
        kill -9 never leaves a stale lock. `new`: the folder must not hold a run (checked again under the lock, in
        case another process created one in between); `start`, the new run's start record (`START_FILE`), is
        written at once. Temporary folders of a killed checkpoint write are removed. If the work fails before
        `config.json` exists, a folder this call created is removed again, and an existing one gets back the start
        record it had (a failed `--resume` of a run stopped during start-up can be tried again).
        """
        created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = (self.path / LOCK_FILE).open("a+", encoding="utf-8")
        except OSError as error:
            what = f"--out {self.path}: cannot create the run folder there" if created else \
                f"run folder {self.path}: cannot write its lock file {LOCK_FILE}"
            raise GanforgeError(f"{what} ({describe_os_error(error)})") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise GanforgeError(f"run folder {self.path} is in use by another ganforge process (pid {holder}); "
                                    "wait for it to finish or stop it, or choose another --out") from None
            if new and self.config_path.exists():
                raise GanforgeError(f"{self.path} already holds a run; continue it with --resume {self.path} or "
                                    "choose another --out")
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            remove_partial_writes(self.checkpoints)
            previous = self.start_path.read_bytes() if new and self.start_path.is_file() else None
            try:
                if new and start is not None:
                    write_json(self.start_path, start)
                yield
            except BaseException:
                if not self.config_path.exists():  # failed before it was a run
                    if created:  # leave nothing behind
                        shutil.rmtree(self.path, ignore_errors=True)
                    elif previous is not None:  # a failed restart keeps the options that can start it again
                        atomic_write_text(self.start_path, previous.decode("utf-8"))
                    else:
                        self.start_path.unlink(missing_ok=True)
                raise

    def read_config(self) -> dict[str, Any]:
        """The stored `config.json`."""
        try:
            return json.loads(self.config_path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise GanforgeError(f"{self.config_path} is not valid JSON: {error}") from None

    def write_config(self, data: dict[str, Any]) -> None:
        """Write `config.json` atomically (creating the run folder on a new run's first write)."""
        self.samples.mkdir(parents=True, exist_ok=True)
        write_json(self.config_path, data)
        self.start_path.unlink(missing_ok=True)

    def latest_checkpoint(self) -> Path:
        """The newest complete checkpoint, or a clear error if the run has none yet."""
        found = find_checkpoint(self.path)
        if found is None:
            raise GanforgeError(f"run {self.path} has no complete checkpoint yet")
        return found

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Add one line to `metrics.jsonl` (flushed, so a crash loses at most the line being written)."""
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(plain_json(record), allow_nan=False) + "\n")
            handle.flush()

    def append_diagnosis(self, record: dict[str, Any]) -> None:
        """Add one finding event to `diagnoses.jsonl`."""
        with (self.path / DIAGNOSES_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(plain_json(record), allow_nan=False) + "\n")
            handle.flush()

    def read_diagnoses(self) -> list[dict[str, Any]]:
        """All events of `diagnoses.jsonl`."""
        path = self.path / DIAGNOSES_FILE
        if not path.exists():
            return []
        events = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:  # a line cut short by a crash
                continue
        return events

    def truncate_metrics(self, last_step: int) -> None:
        """Drop metric lines logged after `last_step` (work after the checkpoint a resume restarts from, which it
        will log again), and a line cut short by a crash."""
        self._truncate_lines(self.metrics_path, last_step, "step")

    def truncate_diagnoses(self, last_step: int) -> None:
        """Drop diagnosis events after `last_step`: a resumed run's monitor, restored from that checkpoint, raises
        them again. (A rollback keeps them: they are what led to it.)"""
        self._truncate_lines(self.path / DIAGNOSES_FILE, last_step, "step")

    @staticmethod
    def _truncate_lines(path: Path, last_step: int, key: str) -> None:
        if not path.exists():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get(key, 0) <= last_step:
                    kept.append(line)
            except ValueError:
                continue  # a line cut short by a crash
        atomic_write_text(path, "".join(f"{line}\n" for line in kept))

    def read_metrics(self) -> list[dict[str, Any]]:
        """All records of `metrics.jsonl`."""
        if not self.metrics_path.exists():
            return []
        records = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records


def describe_os_error(error: OSError) -> str:
    """'No space left on device: /path' from an OSError, for one-line messages."""
    reason = error.strerror or str(error)
    return f"{reason}: {error.filename}" if error.filename else reason


@contextlib.contextmanager
def write_failures_explained(run: Path) -> Iterator[None]:
    """Turn a failed write into the run folder (a full disk, an impossible path) into a one-line error that says the
    checkpoints already written are untouched; other errors pass through."""
    try:
        yield
    except OSError as error:
        inside = error.filename is not None and \
            run.resolve() in Path(os.fsdecode(error.filename)).resolve().parents
        if error.errno not in NO_SPACE_ERRNOS and not (inside and error.errno in PATH_ERRNOS):
            raise
        latest = find_checkpoint(run)
        if latest is not None:
            then = (f"the last good checkpoint ({latest}) is untouched: free space, then continue with "
                    f"ganforge train --resume {run}")
        elif (run / CONFIG_FILE).exists() or (run / START_FILE).exists():
            then = f"no checkpoint was written yet: free space, then ganforge train --resume {run} starts it again"
        else:
            then = "nothing was saved: free space or choose another --out"
        raise GanforgeError(f"could not write ({describe_os_error(error)}); training stopped and {then}") from None
