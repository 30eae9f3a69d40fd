"""Tables as a run kind: `ganforge train --data table.csv` fits a `TableGAN` in a run folder (see
`tabular/run.py` for what the folder holds), `--resume` goes on from its checkpoints, and the `sample`, `eval` and
`interpolate` commands on a table run."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ganforge.config import TrainConfig, build_config
from ganforge.errors import GanforgeError
from ganforge.kinds.base import RunKind, refuse_changes, start_record
from ganforge.report.sinks import LiveReport
from ganforge.tabular import run as table_run
from ganforge.tabular.gan import TableGAN, TableGANConfig, describe_columns
from ganforge.tabular.run import (
    AUTO_THREADS,
    CHECKPOINT_EVERY,
    FEW_ROWS,
    KEEP_CHECKPOINTS,
    MIN_ROWS,
    MODEL_FOLDER,
    TABLE_OPTIONS,
    split_names,
    table_config,
    table_options,
)
from ganforge.tabular.schema import TABLE_SUFFIXES, read_table
from ganforge.training import checkpoint as ckpt
from ganforge.training.checkpoint import atomic_write_text, find_checkpoint
from ganforge.training.hardware import set_threads
from ganforge.training.loop import LoopOutput, TrainResult
from ganforge.training.run_folder import RunFolder, default_run_path, write_failures_explained
from ganforge.version import __version__

log = logging.getLogger("ganforge")


class TableRuns(RunKind):
    """Runs on one table (.csv, .tsv, .parquet) with mixed column types."""

    name = "table"

    def claims(self, data: str, options: dict[str, Any]) -> bool:
        return Path(data).suffix.lower() in TABLE_SUFFIXES

    def train(self, config: TrainConfig, given: set[str], progress: bool) -> TrainResult:
        _one_process()
        return train_table(config, progress=progress, given=given)

    def resume(self, run: RunFolder, overrides: dict[str, Any], progress: bool) -> TrainResult:
        _one_process()
        return resume_table(run, overrides, progress=progress)

    def report(self, result: TrainResult, command: str = "ganforge") -> list[str]:
        run = result.run_dir
        if result.interrupted:
            return [f"interrupted after epoch {result.step}; checkpoint saved. Continue with: {command} train --resume "
                    f"{run}"]
        return [f"fitted {result.step} epoch{'' if result.step == 1 else 's'}. Run folder: {run}",
                f"  report:    {run / 'report.html'}", f"  preview:   {run / 'samples' / 'preview.csv'}",
                f"  metrics:   {run / 'metrics.jsonl'}",
                f"  more rows: {command} sample {run} --n 1000 --out synthetic.csv",
                f"  measure:   {command} eval {run}"]

    def sample(self, args: argparse.Namespace) -> int:
        training_table = RunFolder.open(args.run).read_config()["config"]["data"]
        if Path(args.out).resolve() == Path(training_table).resolve():  # checked before the work, not after
            raise GanforgeError(f"--out {args.out} is the table this run was trained on; choose another file name")
        if args.checkpoint:
            raise GanforgeError("--checkpoint applies to image and vector runs; a table run samples its finished "
                                "model (train it longer with --resume RUN --epochs N)")
        if args.label is not None or args.truncation is not None:
            raise GanforgeError("--class and --truncation apply to image and vector runs; a table run conditions "
                                "with --where COLUMN=VALUE")
        if args.where and len(args.where) > 1:
            raise GanforgeError(f"--where takes one column=value condition, got {len(args.where)}: "
                                f"{', '.join(args.where)}")
        model = table_run.load_table_run(args.run)
        where = table_run.parse_where(args.where[0] if args.where else None)
        rows = model.sample(64 if args.n is None else args.n, where=where, seed=args.seed, progress=not args.quiet)
        path = table_run.write_table(rows, args.out)
        print(f"wrote {len(rows)} rows × {rows.shape[1]} columns to {path}")
        return 0

    def evaluate(self, args: argparse.Namespace) -> int:
        image_only = [flag for flag, value in (("--checkpoint", args.checkpoint), ("--metrics", args.metrics),
                                               ("--features", args.features),
                                               ("--inception-weights", args.inception_weights)) if value]
        if image_only:
            raise GanforgeError(f"{', '.join(image_only)} appl{'y' if len(image_only) > 1 else 'ies'} to image and "
                                "vector runs; a table run is measured by quality, efficacy (--target) and privacy")
        report = table_run.evaluate_table(args.run, holdout=args.real, target=args.target, n=args.n_given,
                                          seed=args.seed)
        _print_table_report(args.run, report)
        return 0

    def interpolate(self, args: argparse.Namespace) -> int:
        raise GanforgeError("interpolate applies to image and vector runs; a table run samples rows with "
                            "`ganforge sample RUN --where COLUMN=VALUE`")


def _print_table_report(run: str, report: dict[str, Any]) -> None:
    """The table run's evaluation as `ganforge eval` prints it."""
    print(f"{run}: {report['rows_synthetic']} synthetic rows vs {report['rows_real']} training rows")
    pairs = f"{report['column_pair_trends']:.4f}" if report["pairs_counted"] else "n/a: no associated column pairs"
    print(f"  quality            {report['quality']:.4f}  (column shapes {report['column_shapes']:.4f}, "
          f"pair trends {pairs})")
    print(f"  training copies    {report['training_copies']:.2%} of synthetic rows equal a training row")
    worst = sorted(report["shapes_by_column"].items(), key=lambda item: item[1])[:3]
    print("  weakest columns    " + ", ".join(f"{name} {score:.3f}" for name, score in worst))
    if "privacy" in report:
        p = report["privacy"]
        print(f"  privacy            mean distance to closest training row {p['dcr_synthetic_mean']:.4f} "
              f"(real holdout rows: {p['dcr_holdout_mean']:.4f}); exact copies {p['exact_copies']:.2%} "
              f"(real holdout rows: {p['holdout_exact_copies']:.2%})")
    if "efficacy" in report:
        e = report["efficacy"]
        print(f"  efficacy ({e['real']['metric']} on holdout, target {e['real']['target']}): trained on synthetic "
              f"{e['synthetic']['score']:.4f}, on real {e['real']['score']:.4f}")
    print(f"written to {run}/eval.json")


def _one_process() -> None:
    """Tables train in one process (their networks are small): several processes under torchrun are refused."""
    from ganforge.training.distributed import launched_by_torchrun

    if launched_by_torchrun():
        raise GanforgeError("option --nproc (several processes) applies to image and vector data; tables train in "
                            "one process")


def train_table(config: TrainConfig, progress: bool = True, given: set[str] | None = None) -> TrainResult:
    """Fit a `TableGAN` to the table at `config.data` and write the run folder (`given`: the options the user set;
    None = take every table option from `config`)."""
    frame = read_table(config.data)
    if len(frame) < MIN_ROWS:
        raise GanforgeError(f"table {config.data} has {len(frame)} row{'s' * (len(frame) != 1)}; a GAN needs at "
                            f"least {MIN_ROWS} rows to learn from (a few hundred for useful samples)")
    if len(frame) < FEW_ROWS:
        log.warning("table %s has only %d rows: a GAN learns little from so few, and many sampled rows may copy "
                    "training rows (ganforge eval reports the share)", config.data, len(frame))
    options = table_options(config, given)
    # batch and training length are stored as numbers, so a resumed run keeps them whatever later defaults are
    if options.batch_size is None:
        options = dataclasses.replace(options, batch_size=options.batch_for(len(frame)))
    if options.epochs is None:
        options = dataclasses.replace(options, epochs=options.epochs_for(len(frame)))
    if options.batch_size % options.pac:  # a batch chosen by default is already a multiple of the pack
        raise GanforgeError(f"option --batch-size ({options.batch_size}) must be a multiple of --pack "
                            f"({options.pac}) for tables")
    run = RunFolder.new(config.out or default_run_path(Path(config.data).stem))
    config.out = str(run.path)
    chosen = (lambda name: given is not None and name in given)  # noqa: E731
    stored = {"data": config.data, "out": config.out, "threads": config.threads,
              "checkpoint_every": config.checkpoint_every if chosen("checkpoint_every") else CHECKPOINT_EVERY,
              "keep_checkpoints": config.keep_checkpoints if chosen("keep_checkpoints") else KEEP_CHECKPOINTS,
              **dataclasses.asdict(options)}
    start = start_record(TableRuns.name, config, given)
    return _fit_run(run, frame, options, stored, progress, resume=False, start=start)


def resume_table(run: RunFolder, overrides: dict[str, Any], progress: bool = True) -> TrainResult:
    """Continue a table run from its newest checkpoint: `epochs` is the new total; `threads` and `data` (the same
    table, moved) may change, nothing else."""
    stored = run.read_config()["config"]
    changes = {key.replace("-", "_"): value for key, value in overrides.items() if key != "out"}
    asked = build_config(changes, source="options")

    def asked_value(key: str, value: Any) -> Any:
        return ckpt.plain_json(split_names(getattr(asked, key)) if key in ("categorical", "ignore")
                               else getattr(asked, key))

    resumable = {"epochs", "threads", "data", "checkpoint_every", "keep_checkpoints"}
    if asked.device in ("auto", "cpu"):
        resumable.add("device")
    refuse_changes(run, overrides, resumable, lambda key: ckpt.plain_json(stored.get(TABLE_OPTIONS.get(key, key))),
                   asked_value, "only --epochs (the new total), --threads, --data and the checkpoint options can")
    for key in ("checkpoint_every", "keep_checkpoints", "threads", "epochs"):
        if key in changes:
            stored[key] = getattr(asked, key)
    if "data" in changes:
        stored["data"] = str(Path(asked.data).expanduser().resolve())
    fields = {f.name for f in dataclasses.fields(TableGANConfig)}
    options = table_config({k: v for k, v in stored.items() if k in fields})
    return _fit_run(run, read_table(stored["data"]), options, stored, progress, resume=True)


def _fit_run(run: RunFolder, frame: pd.DataFrame, options: TableGANConfig, stored: dict[str, Any], progress: bool,
             resume: bool, start: dict[str, Any] | None = None) -> TrainResult:
    """Fit (or go on fitting) with checkpoints in the run folder, which this process holds locked; Ctrl-C and
    kill -9 keep the run resumable, and a full disk is a one-line error."""
    created = not run.path.exists()
    with write_failures_explained(run.path), run.lock(new=not resume, start=start):
        return _fit_locked(run, frame, options, stored, progress, resume, created)


def _fit_locked(run: RunFolder, frame: pd.DataFrame, options: TableGANConfig, stored: dict[str, Any],
                progress: bool, resume: bool, created: bool) -> TrainResult:
    threads = set_threads(stored["threads"] or AUTO_THREADS, torch.device("cpu"))
    header = {"ganforge": __version__, "kind": "table", "config": stored}
    previous, found = run.read_config() if resume else None, find_checkpoint(run.path) if resume else None
    replay = resume and found is None and previous.get("status") == "fitting"
    steps_per_epoch, epochs = options.steps_per_epoch(len(frame)), options.epochs_for(len(frame))
    if replay:  # killed before its first checkpoint: the same seed replays the same fit from the start
        run.metrics_path.unlink(missing_ok=True)
        run.truncate_diagnoses(0)
    elif resume:
        if found is None:
            raise GanforgeError(f"run {run.path} has no checkpoint to resume from (table runs made before ganforge "
                                "kept checkpoints for tables cannot be resumed; train a new run)")
        done = ckpt.read_checkpoint_state(found)["step"] / steps_per_epoch
        if done > epochs or (done == epochs and previous.get("status") == "done"):
            raise GanforgeError(f"run {run.path} is already at epoch {int(done)}; --epochs is the new total, so give "
                                f"more than {int(done)} to continue it")
    else:
        run.metrics_path.unlink(missing_ok=True)  # left by an earlier attempt that never finished (no config.json)
    run.write_config({**header, "status": "fitting"})  # from now on the folder is a run that --resume can open
    model = TableGAN(options)
    started = time.perf_counter()
    try:
        model.fit(frame, progress=progress, source=f"table {stored['data']}", output=LoopOutput.for_run(run),
                  checkpoint_every=stored["checkpoint_every"], keep_checkpoints=stored["keep_checkpoints"],
                  resume=resume and not replay)
    except BaseException as error:
        latest = find_checkpoint(run.path)
        if isinstance(error, KeyboardInterrupt) and latest is not None:
            if latest == found:  # stopped before any progress: the run is as it was
                run.write_config(previous)
            epoch = ckpt.read_checkpoint_state(latest)["step"] // steps_per_epoch
            LiveReport(run.path).update(final=True)
            return TrainResult(run.path, epoch, interrupted=True,
                               last_metrics=model.history[-1] if model.history else {})
        if resume:  # a refused or failed extension leaves the run as it was (a finished run stays usable)
            run.write_config(previous)
        elif latest is None:
            _remove_unfinished(run, created)  # nothing worth keeping yet: leave no half-made run behind
        elif isinstance(error, GanforgeError):
            raise GanforgeError(f"{error} (run {run.path} keeps its checkpoints; delete it to start again with "
                                "other options)") from None
        raise
    seconds = time.perf_counter() - started
    model.save(run.path / MODEL_FOLDER)
    run.write_config({**header, "status": "done",
                      "table": {"rows": len(frame), "columns": describe_columns(model), "fit_seconds": seconds},
                      "runtime": {"device": "cpu", "threads": threads}})
    preview = model.sample(20, seed=options.seed)
    atomic_write_text(run.samples / "preview.csv", preview.to_csv(index=False))
    LiveReport(run.path).update(final=True)
    last = model.history[-1] if model.history else {}
    return TrainResult(run.path, int(last.get("epoch", 0)), last_metrics=last)


def _remove_unfinished(run: RunFolder, created: bool) -> None:
    """Undo what a fit that failed before its first checkpoint wrote (bad options found while setting it up)."""
    if created:
        shutil.rmtree(run.path, ignore_errors=True)
        return
    for path in (run.metrics_path, run.config_path, run.path / "diagnoses.jsonl"):
        path.unlink(missing_ok=True)
    for folder in (run.samples, run.checkpoints):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
