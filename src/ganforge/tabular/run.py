"""Tables in the run folder: what `ganforge train --data customers.csv` leaves (the fit itself is the table run kind,
`kinds/table.py`), the options it takes, and loading, sampling and evaluating a finished table run:

    runs/NAME/config.json      the options, the data's columns and what each was taken to be
    runs/NAME/model/           table.json + table_model.safetensors (TableGAN.save)
    runs/NAME/metrics.jsonl    one line per epoch: losses and seconds
    runs/NAME/samples/preview.csv   20 synthetic rows to look at
    runs/NAME/checkpoints/     the fit's whole state every --checkpoint-every epochs (`--resume` goes on from it)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from ganforge.config import TrainConfig
from ganforge.errors import GanforgeError
from ganforge.tabular.gan import TableGAN, TableGANConfig
from ganforge.tabular.schema import read_table
from ganforge.training.checkpoint import atomic_write_text, write_json
from ganforge.training.run_folder import RunFolder

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
    options["categorical"], options["ignore"] = split_names(config.categorical), split_names(config.ignore)
    return TableGANConfig(**options).validate()


def split_names(text: str) -> tuple[str, ...]:
    """`"a, b"` → ("a", "b")."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def table_config(values: dict[str, Any]) -> TableGANConfig:
    """A `TableGANConfig` from its JSON form (lists back to tuples)."""
    return TableGANConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}).validate()


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
