"""Tables in the run folder: `ganforge train --data customers.csv` fits a `TableGAN` and leaves

    runs/NAME/config.json      the options, the data's columns and what each was taken to be
    runs/NAME/model/           table.json + table_model.safetensors (TableGAN.save)
    runs/NAME/metrics.jsonl    one line per epoch: losses and seconds
    runs/NAME/samples/preview.csv   20 synthetic rows to look at
    runs/NAME/checkpoints/     the fit's whole state every --checkpoint-every epochs (`--resume` goes on from it)
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ganforge import __version__
from ganforge.config import TrainConfig, build_config
from ganforge.errors import GanforgeError
from ganforge.kinds import refuse_changes
from ganforge.report.sinks import LiveReport
from ganforge.tabular.gan import TableGAN, TableGANConfig, describe_columns
from ganforge.tabular.schema import read_table
from ganforge.training import checkpoint as ckpt
from ganforge.training.checkpoint import atomic_write_text, find_checkpoint, write_json
from ganforge.training.hardware import set_threads
from ganforge.training.loop import LoopOutput, TrainResult
from ganforge.training.run_folder import RunFolder, default_run_path, write_failures_explained

log = logging.getLogger("ganforge")
MIN_ROWS, FEW_ROWS = 10, 200  # below 10 rows a table is refused; below 200 the user is warned
# --threads 0 for a table: one thread. Fair, --target, fastest epoch of 6, 2 idle cores: 1 thread 0.38–0.46 s, 2
# threads 0.40–0.49 s (the matrices are too small to share); with the other core busy, 2 threads were 3–5x slower.
AUTO_THREADS = 1
MIN_HOLDOUT_ROWS = 200  # an AUC from fewer held-out rows moves by several hundredths between samples

MODEL_FOLDER = "model"
CHECKPOINT_EVERY = 20  # epochs between checkpoints (`--checkpoint-every` counts epochs for tables)
KEEP_CHECKPOINTS = 2
# `ganforge train` options that set a TableGAN option, by their TableGAN name.
TABLE_OPTIONS = {"batch_size": "batch_size", "latent_dim": "latent_dim", "lr_g": "lr_g", "lr_d": "lr_d",
                 "d_steps": "d_steps", "gp": "gp", "lazy_every": "gp_every", "pack": "pac", "ema": "ema",
                 "seed": "seed", "epochs": "epochs", "precision": "precision", "target": "target"}
# Options that mean the same for every kind of run; the rest are for images and vectors.
RUN_OPTIONS = {"data", "out", "threads", "categorical", "ignore", "device", "config", "checkpoint_every",
               "keep_checkpoints"}


def table_options(config: TrainConfig, given: set[str] | None = None) -> TableGANConfig:
    """The `TableGAN` options from the `ganforge train` options the user `given` (TableGAN's defaults for the rest:
    they were measured on tables, where the image defaults were not). Given options that do not apply to tables
    are named in a warning rather than silently dropped."""
    if given is None:  # not told: the options that differ from their `ganforge train` default
        defaults = TrainConfig()
        given = {name for name in TABLE_OPTIONS if getattr(config, name) != getattr(defaults, name)}
    given = {name.replace("-", "_") for name in given}
    options: dict[str, Any] = {TABLE_OPTIONS[name]: getattr(config, name) for name in given & set(TABLE_OPTIONS)
                               if getattr(config, name) is not None}
    ignored = sorted(given - set(TABLE_OPTIONS) - RUN_OPTIONS)
    if ignored:
        log.warning("option%s %s do%s not apply to tables and %s ignored", "s" * (len(ignored) > 1),
                    ", ".join("--" + name.replace("_", "-") for name in ignored), "" if len(ignored) > 1 else "es",
                    "were" if len(ignored) > 1 else "was")
    if "device" in given and config.device not in ("auto", "cpu"):
        log.warning("tables are fitted on the CPU; --device %s was ignored", config.device)
    options["categorical"], options["ignore"] = _split_names(config.categorical), _split_names(config.ignore)
    return TableGANConfig(**options).validate()


def _split_names(text: str) -> tuple[str, ...]:
    """`"a, b"` → ("a", "b")."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


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
    return _fit_run(run, frame, options, stored, progress, resume=False)


def resume_table(run: RunFolder, overrides: dict[str, Any], progress: bool = True) -> TrainResult:
    """Continue a table run from its newest checkpoint: `epochs` is the new total; `threads` and `data` (the same
    table, moved) may change, nothing else."""
    stored = run.read_config()["config"]
    changes = {key.replace("-", "_"): value for key, value in overrides.items() if key != "out"}
    asked = build_config(changes, source="options")

    def asked_value(key: str, value: Any) -> Any:
        return ckpt.plain_json(_split_names(getattr(asked, key)) if key in ("categorical", "ignore")
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
    options = _table_config({k: v for k, v in stored.items() if k in fields})
    return _fit_run(run, read_table(stored["data"]), options, stored, progress, resume=True)


def _table_config(values: dict[str, Any]) -> TableGANConfig:
    """A `TableGANConfig` from its JSON form (lists back to tuples)."""
    return TableGANConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}).validate()


def _fit_run(run: RunFolder, frame: pd.DataFrame, options: TableGANConfig, stored: dict[str, Any], progress: bool,
             resume: bool) -> TrainResult:
    """Fit (or go on fitting) with checkpoints in the run folder, which this process holds locked; Ctrl-C and
    kill -9 keep the run resumable, and a full disk is a one-line error."""
    created = not run.path.exists()
    with run.lock(new=not resume), write_failures_explained(run.path):
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


def load_table_run(run_dir: str | Path) -> TableGAN:
    """The `TableGAN` of a table run folder."""
    run = RunFolder.open(run_dir)
    if run.read_config().get("status") == "fitting":
        raise GanforgeError(f"run {run.path} has not finished fitting (it was stopped); continue it with "
                            f"ganforge train --resume {run.path}")
    return TableGAN.load(run.path / MODEL_FOLDER)


def parse_where(text: str | None) -> dict[str, str]:
    """`"churned=yes"` → {"churned": "yes"}; a one-line error for anything else."""
    if not text:
        return {}
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise GanforgeError(f"--where expects column=value (e.g. churned=yes), got {text!r}")
    return {name.strip(): value.strip()}


def write_table(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write rows as CSV, TSV or parquet by the suffix of `out` (atomically for text formats)."""
    out = Path(out)
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix in {".csv", ".tsv"}:
        atomic_write_text(out, frame.to_csv(index=False, sep="\t" if suffix == ".tsv" else ","))
    elif suffix in {".parquet", ".pq"}:
        try:
            frame.to_parquet(out, index=False)
        except ImportError:
            raise GanforgeError(f"writing {out} needs pyarrow: pip install 'ganforge[parquet]'") from None
    else:
        raise GanforgeError(f"output {out}: tables are written as .csv, .tsv or .parquet")
    return out


def evaluate_table(run_dir: str | Path, holdout: str | None = None, target: str | None = None,
                   n: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Quality of a table run against its training table; with `holdout` (real rows not trained on) also
    efficacy for `target` and privacy. Writes `eval.json` in the run folder."""
    from ganforge.tabular import quality

    run = RunFolder.open(run_dir)
    stored = run.read_config()
    model = load_table_run(run.path)
    train = read_table(stored["config"]["data"])
    kinds = {spec.name: spec.kind for spec in model.transformer.columns}
    synthetic = model.sample(n or len(train), seed=seed)
    report: dict[str, Any] = {"rows_real": len(train), "rows_synthetic": len(synthetic)}
    report.update(quality.quality_report(train, synthetic, kinds))
    report["training_copies"] = quality.exact_copy_share(train, synthetic)
    if holdout:
        test = read_table(holdout)
        absent = [name for name in kinds if name not in test.columns]
        if absent:
            raise GanforgeError(f"--real {holdout} lacks column(s) {', '.join(absent)} of the training table")
        if len(test) < MIN_HOLDOUT_ROWS:
            log.warning("--real %s has only %d rows: efficacy and privacy from fewer than %d held-out rows are mostly "
                        "noise", holdout, len(test), MIN_HOLDOUT_ROWS)
        report["rows_holdout"] = len(test)
        report["privacy"] = quality.privacy(train, test, synthetic, kinds, seed=seed)
        if target:
            report["efficacy"] = {"synthetic": quality.efficacy(synthetic, test, kinds, target, seed),
                                  "real": quality.efficacy(train, test, kinds, target, seed)}
    elif target:
        raise GanforgeError("--target needs --real with held-out rows (real rows the model was not trained on)")
    write_json(run.path / "eval.json", report)
    return report
