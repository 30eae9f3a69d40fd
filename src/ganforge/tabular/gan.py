"""`TableGAN`: fit a conditional tabular GAN to a DataFrame, sample rows (optionally `where` a column has a value),
save and load it as safetensors + JSON.

    m = TableGAN(epochs=300).fit(df)
    m.sample(1000, where={"churned": "yes"}, seed=0)
    m.save("model/"); TableGAN.load("model/")

Losses (WGAN-GP, as CTGAN): the discriminator minimises D(fake) − D(real) + λ·(‖∇D‖ − 1)²; the generator minimises
−D(fake) plus the cross-entropy between the conditional vector and the category it generated for that column.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from tqdm.auto import tqdm

from ganforge.errors import GanforgeError
from ganforge.tabular.model import ConditionSampler, OutputLayout, TableGenerator
from ganforge.tabular.options import TableGANConfig
from ganforge.tabular.quality import label
from ganforge.tabular.schema import infer_columns
from ganforge.tabular.task import TableTask, make_rows, table_identity
from ganforge.tabular.transform import TableTransformer
from ganforge.training import checkpoint as ckpt
from ganforge.training.checkpoint import check_identity
from ganforge.training.loop import LoopOutput, LoopSettings, TrainingLoop

FORMAT = "ganforge-table-2"  # 2 added dropout, gp_every and column time zones; version 1 files still load
READABLE_FORMATS = ("ganforge-table-1", FORMAT)
MODEL_FILE, META_FILE = "table_model.safetensors", "table.json"


class TableGAN:
    """A conditional GAN for tables with mixed column types."""

    def __init__(self, config: TableGANConfig | None = None, **options: Any):
        fields = {f.name for f in dataclasses.fields(TableGANConfig)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise GanforgeError(f"unknown TableGAN option(s) {', '.join(unknown)}; expected some of "
                                f"{', '.join(sorted(fields))}")
        self.config = dataclasses.replace(config or TableGANConfig(), **options).validate()
        self.transformer: TableTransformer | None = None
        self.generator: TableGenerator | None = None
        self.sampler: ConditionSampler | None = None
        self.history: list[dict[str, Any]] = []

    # ----------------------------------------------------------------------------------------------- fitting
    def fit(self, frame: pd.DataFrame, progress: bool = False, source: str = "table",
            on_epoch: Callable[[dict[str, Any]], None] | None = None, checkpoints: str | Path | None = None,
            checkpoint_every: int = 20, keep_checkpoints: int = 2, resume: bool = False,
            output: LoopOutput | None = None) -> TableGAN:
        """Learn the table through the shared training loop; the same seed and data give the same model (and so
        the same sampled rows).

        With `checkpoints` (a folder), the whole training state is saved there atomically every `checkpoint_every`
        epochs and at the end (the newest `keep_checkpoints` are kept); without, the last good state is kept in
        memory. Either way a diverged fit (NaN) rolls back to it with halved learning rates. Ctrl-C finishes the
        current step, saves, and raises KeyboardInterrupt. `resume=True` continues from the newest checkpoint there
        exactly as if the fit had never stopped (`epochs` is the new total; on the same machine and thread count,
        bit for bit). `output` (a run folder's) receives the log lines, diagnoses and checkpoints instead.
        """
        cfg = self.config
        if checkpoint_every < 1 or keep_checkpoints < 1:
            raise GanforgeError(f"checkpoint_every and keep_checkpoints must be at least 1, got {checkpoint_every} "
                                f"and {keep_checkpoints}")
        output = output or LoopOutput(Path(checkpoints) if checkpoints is not None else None)
        folder = output.checkpoints
        if resume and folder is None:
            raise GanforgeError("resume=True needs the checkpoints folder to resume from")
        if folder is not None and not resume and ckpt.find_checkpoint_in(folder) is not None:
            raise GanforgeError(f"{folder} already holds checkpoints of another fit; resume it or choose another "
                                "folder")
        frame = frame.rename(columns=str)  # names are stored as text (JSON), so a column named 0 becomes "0"
        total = cfg.epochs_for(len(frame)) * cfg.steps_per_epoch(len(frame))
        fingerprint = _fingerprint(frame)
        found, saved = self._open_checkpoint(folder, total, len(frame), fingerprint) if resume else (None, None)
        torch.manual_seed(cfg.seed)  # dropout and Gumbel noise draw from the global generator
        if saved is not None:  # the encoding the checkpoint's weights were trained on, not a refit
            transformer = TableTransformer.from_json(saved["transformer"])
        else:
            columns = infer_columns(frame, list(cfg.categorical), list(cfg.ignore), source)
            transformer = TableTransformer.fit(frame, columns, cfg.seed)
        task = TableTask(cfg, frame, transformer, fingerprint)
        self.transformer, self.sampler, self.layout = transformer, task.sampler, task.layout

        def log(record: dict[str, Any]) -> None:
            task.history.append(record)
            output.metrics(record)
            if on_epoch:
                on_epoch(record)

        def rewind(step: int) -> None:
            task.history[:] = [r for r in task.history if r["step"] <= step]
            output.rewind(step)

        spe = task.steps_per_epoch
        settings = LoopSettings(total, spe, total, checkpoint_every * spe, keep_checkpoints, loss="wgan-gp",
                                probabilistic=False, description="fitting table")
        loop = TrainingLoop(task, settings, LoopOutput(folder, log, output.diagnosis, rewind), progress,
                            threads=torch.get_num_threads())
        if found is not None:
            loop.restore(found)
        result = loop.fit()
        self.history = task.history
        if result.interrupted:
            raise KeyboardInterrupt
        self.generator = task.generator
        if task.ema is not None:  # the averaged weights are the model that is kept and sampled from
            self.generator.load_state_dict(task.ema.average.state_dict())
        self.generator.eval()
        return self

    def _open_checkpoint(self, folder: Path, total: int, rows: int, fingerprint: str) -> tuple[Path, dict[str, Any]]:
        """The newest checkpoint in `folder` and its table state; refused by name if it is not a table fit's, was
        made with other options or on another table, or is past the new total."""
        found = ckpt.find_checkpoint_in(folder)
        if found is None:
            raise GanforgeError(f"no complete checkpoint in {folder} to resume from")
        state = ckpt.read_checkpoint_state(found)
        if state.get("kind") != "table" or "task" not in state:
            raise GanforgeError(f"checkpoint {found} is not a TableGAN checkpoint of this version (table checkpoints "
                                "from before the shared training loop cannot be resumed; train a new run)")
        check_identity(found, state, TableTask.kind, table_identity(self.config, fingerprint), TableTask.other_data,
                       TableTask.resumable)  # before the table is encoded with the checkpoint's encoding
        if state["step"] > total:
            raise GanforgeError(f"the fit is already at step {state['step']:,}, past the {total:,} that --epochs "
                                f"{self.config.epochs_for(rows)} asks for; --epochs is the new total")
        return found, state["task"]

    # ---------------------------------------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(self, n: int, where: dict[str, Any] | None = None, seed: int = 0, batch_size: int = 10_000,
               progress: bool = False) -> pd.DataFrame:
        """`n` synthetic rows with the training table's columns and dtypes.

        `where={"column": value}` makes every row have that value in that categorical column, through the
        conditional vector (the rows are drawn from the model's distribution given that value; nothing is rejected).
        """
        self._require_fitted()
        if n < 1:
            raise GanforgeError(f"option --n must be at least 1, got {n}")
        condition = self._where(where or {})
        rng = torch.Generator().manual_seed(seed)
        parts = []
        for start in tqdm(range(0, n, batch_size), desc="sampling rows", unit="batch",
                          disable=not progress or n <= batch_size, leave=False):
            count = min(batch_size, n - start)
            if condition is not None:
                span_index, code, _ = condition
                cond = self.sampler.vectors(torch.full((count,), span_index), torch.full((count,), code))
            elif self.sampler is not None:
                cond = self.sampler.frequency_batch(count, rng)
            else:
                cond = torch.zeros(count, 0)
            _, rows = make_rows(self.generator, self.config, self.layout, cond, rng, sample=True)
            parts.append(self.transformer.decode(rows, seed=seed * 1_000_003 + start))
        table = pd.concat(parts, ignore_index=True)
        if condition is not None:
            (name,) = where
            table[name] = pd.Series([condition[2]] * n, dtype=table[name].dtype)  # exact, even where G strayed
        return table

    def _where(self, where: dict[str, Any]) -> tuple[int, int, Any] | None:
        """(condition span, its code, the training value) for a `where` of one column=value."""
        if not where:
            return None
        if len(where) > 1:
            raise GanforgeError(f"--where takes one column=value condition, got {len(where)}")
        (name, value), = where.items()
        spans = self.transformer.condition_spans()
        for index, span in enumerate(spans):
            spec = self.transformer.columns[span.column]
            if spec.name != name:
                continue
            wanted = _where_label(value, spec.kind)
            for code, category in enumerate(spec.categories):
                if _where_label(category, spec.kind) == wanted:
                    return index, code, category
            for category in spec.rare_categories:
                if _where_label(category, spec.kind) == wanted:
                    return index, len(spec.categories), category  # the shared rare code; the value is set after
            shown = ", ".join(map(str, spec.categories[:10])) + (" ..." if len(spec.categories) > 10 else "")
            raise GanforgeError(f"--where {name}={value}: value never seen in training; column {name!r} has {shown}")
        names = [self.transformer.columns[s.column].name for s in spans]
        raise GanforgeError(f"--where {name}=...: {name!r} is not a categorical column of this model; conditions "
                            f"work on {', '.join(map(repr, names)) or 'no column (the table has none)'}")

    def _require_fitted(self) -> None:
        if self.generator is None or self.transformer is None:
            raise GanforgeError("this TableGAN is not fitted yet; call fit(frame) or TableGAN.load(path)")

    # ------------------------------------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> Path:
        """Write `table.json` and `table_model.safetensors` into `folder` (each atomically)."""
        self._require_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".{MODEL_FILE}.tmp-{os.getpid()}"
        tensors = {k: v.contiguous() for k, v in self.generator.state_dict().items()}
        if self.sampler is not None:
            tensors.update({f"sampler.frequency.{j}": f for j, f in enumerate(self.sampler.frequency)})
        ckpt.write_safetensors(tensors, temp, metadata={"format": FORMAT})
        os.replace(temp, folder / MODEL_FILE)
        config = dataclasses.asdict(self.config)
        ckpt.write_json(folder / META_FILE, {"format": FORMAT, "config": config,
                                             "transformer": self.transformer.to_json(), "history": self.history})
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> TableGAN:
        """A saved model; only tensors and JSON are read, so a stranger's file runs no code."""
        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file() or not (folder / MODEL_FILE).is_file():
            raise GanforgeError(f"{folder} is not a saved TableGAN (expected {META_FILE} and {MODEL_FILE})")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") not in READABLE_FORMATS:
                raise GanforgeError(f"{meta_path} has format {meta.get('format')!r}; expected {FORMAT}")
            config = meta["config"]
            for key in ("generator_dims", "discriminator_dims", "betas", "categorical", "ignore"):
                config[key] = tuple(config[key])
            model = cls(TableGANConfig(**config))
            model.transformer = TableTransformer.from_json(meta["transformer"])
            model.history = meta.get("history", [])
        except (KeyError, TypeError, ValueError) as error:
            raise GanforgeError(f"{meta_path} is not a valid TableGAN description: {error}") from None
        try:
            tensors = load_file(str(folder / MODEL_FILE))
        except (SafetensorError, OSError) as error:
            raise GanforgeError(f"{folder / MODEL_FILE} is not a safetensors file ({error}); nothing was loaded") \
                from None
        spans = model.transformer.condition_spans()
        frequencies = [tensors.pop(f"sampler.frequency.{j}") for j in range(len(spans))]
        if spans:
            model.sampler = ConditionSampler.from_frequencies(spans, frequencies)
        model.layout = OutputLayout(model.transformer.spans)
        cond_width = model.sampler.width if model.sampler else 0
        model.generator = TableGenerator(model.config.latent_dim, cond_width, model.config.generator_dims,
                                         model.transformer.width)
        model.generator.load_state_dict(tensors)
        model.generator.eval()
        return model


def describe_columns(model: TableGAN) -> list[str]:
    """One line per modelled column: its name, kind and what its values may be."""
    lines = []
    for spec in model.transformer.columns:
        if spec.kind in ("categorical", "boolean"):
            detail = f"{len(spec.categories)} categories"
        elif spec.kind == "datetime":  # stored as seconds since 1970; shown as dates
            first, last = (pd.Timestamp(value, unit="s").isoformat() for value in (spec.minimum, spec.maximum))
            detail = f"range {first} to {last}"
        else:
            detail = f"range {spec.minimum:g} to {spec.maximum:g}"
        missing = f", {spec.missing_rate:.1%} missing" if spec.missing_rate else ""
        lines.append(f"{spec.name}: {spec.kind} ({detail}{missing})")
    return lines


def _fingerprint(frame: pd.DataFrame) -> str:
    """A hash of a table's column names and values: a checkpoint continues only on the table it was made on."""
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    names = pd.util.hash_pandas_object(pd.Series(list(frame.columns), dtype=object), index=False).to_numpy()
    return hashlib.sha256(rows.tobytes() + names.tobytes()).hexdigest()[:32]


def _where_label(value: Any, kind: str) -> str:
    """Compare `--where` values as the command line gives them: `2` matches 2.0, `true`/`yes`/`1` match True."""
    text = label(value)
    if kind == "boolean":
        text = text.lower()
        return {"yes": "true", "1": "true", "no": "false", "0": "false"}.get(text, text)
    return text
