"""Tables in the run folder: `ganforge train --data customers.csv` fits a `TableGAN` and leaves

    runs/NAME/config.json      the options, the data's columns and what each was taken to be
    runs/NAME/model/           table.json + table_model.safetensors (TableGAN.save)
    runs/NAME/metrics.jsonl    one line per epoch: losses and seconds
    runs/NAME/samples/preview.csv   20 synthetic rows to look at
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ganforge import __version__
from ganforge.config import TrainConfig
from ganforge.errors import GanforgeError
from ganforge.tabular.gan import TableGAN, TableGANConfig, describe_columns
from ganforge.tabular.schema import TABLE_SUFFIXES, read_table
from ganforge.training.checkpoint import atomic_write_text, write_json
from ganforge.training.hardware import set_threads
from ganforge.training.run_folder import RunFolder, default_run_path
from ganforge.training.trainer import TrainResult

log = logging.getLogger("ganforge")

MODEL_FOLDER = "model"
# `ganforge train` options that set a TableGAN option, by their TableGAN name.
TABLE_OPTIONS = {"batch_size": "batch_size", "latent_dim": "latent_dim", "lr_g": "lr_g", "lr_d": "lr_d",
                 "d_steps": "d_steps", "gp": "gp", "lazy_every": "gp_every", "pack": "pac", "ema": "ema",
                 "seed": "seed", "epochs": "epochs", "precision": "precision"}
# Options that mean the same for every kind of run; the rest are for images and vectors.
RUN_OPTIONS = {"data", "out", "threads", "categorical", "ignore", "device", "config"}


def is_table_path(spec: str) -> bool:
    """Whether `--data` names a table file."""
    return Path(spec).suffix.lower() in TABLE_SUFFIXES


def is_table_run(run: RunFolder) -> bool:
    """Whether a run folder holds a tabular model."""
    return run.read_config().get("kind") == "table"


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
    split = lambda text: tuple(name.strip() for name in text.split(",") if name.strip())  # noqa: E731
    options["categorical"], options["ignore"] = split(config.categorical), split(config.ignore)
    return TableGANConfig(**options).validate()


def train_table(config: TrainConfig, progress: bool = True, given: set[str] | None = None) -> TrainResult:
    """Fit a `TableGAN` to the table at `config.data` and write the run folder (`given`: the options the user set;
    None = take every table option from `config`)."""
    frame = read_table(config.data)
    options = table_options(config, given)
    if options.batch_size % options.pac:
        raise GanforgeError(f"option --batch-size ({options.batch_size}) must be a multiple of --pack "
                            f"({options.pac}) for tables")
    run = RunFolder.new(config.out or default_run_path(Path(config.data).stem))
    config.out = str(run.path)
    threads = set_threads(config.threads, torch.device("cpu"))
    model = TableGAN(options)
    started = time.perf_counter()
    created = not run.path.exists()
    run.path.mkdir(parents=True, exist_ok=True)
    run.metrics_path.unlink(missing_ok=True)  # left by an earlier attempt that never finished (no config.json)
    try:
        model.fit(frame, progress=progress, source=f"table {config.data}", on_epoch=run.append_metrics)
    except BaseException:  # an error or Ctrl-C: leave no half-made run behind
        run.metrics_path.unlink(missing_ok=True)
        if created and not any(run.path.iterdir()):
            run.path.rmdir()
        raise
    seconds = time.perf_counter() - started
    model.save(run.path / MODEL_FOLDER)
    stored = {"data": config.data, "out": config.out, "threads": config.threads, **dataclasses.asdict(options)}
    run.write_config({"ganforge": __version__, "kind": "table", "config": stored,
                      "table": {"rows": len(frame), "columns": describe_columns(model), "fit_seconds": seconds},
                      "runtime": {"device": "cpu", "threads": threads}})
    preview = model.sample(20, seed=config.seed)
    atomic_write_text(run.samples / "preview.csv", preview.to_csv(index=False))
    last = model.history[-1] if model.history else {}
    return TrainResult(run.path, int(last.get("epoch", 0)), last_metrics=last)


def load_table_run(run_dir: str | Path) -> TableGAN:
    """The `TableGAN` of a table run folder."""
    return TableGAN.load(RunFolder.open(run_dir).path / MODEL_FOLDER)


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
    if holdout:
        test = read_table(holdout)
        absent = [name for name in kinds if name not in test.columns]
        if absent:
            raise GanforgeError(f"--real {holdout} lacks column(s) {', '.join(absent)} of the training table")
        report["privacy"] = quality.privacy(train, test, synthetic, kinds, seed=seed)
        if target:
            report["efficacy"] = {"synthetic": quality.efficacy(synthetic, test, kinds, target, seed),
                                  "real": quality.efficacy(train, test, kinds, target, seed)}
    elif target:
        raise GanforgeError("--target needs --real with held-out rows (real rows the model was not trained on)")
    write_json(run.path / "eval.json", report)
    return report
