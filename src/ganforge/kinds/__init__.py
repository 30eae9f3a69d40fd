"""Run kinds: how each kind of run is trained, resumed, and used by `ganforge sample`, `eval` and `interpolate`.

A run folder's `config.json` records its kind; `api` and `cli` dispatch on it. Images and vectors are the `tensor`
kind (`kinds/tensor.py`), tables the `table` kind (`kinds/table.py`). A new kind of data is one module here with a
`RunKind` subclass plus one line in `RUN_KINDS` (docs/architecture.md walks through it).
"""

from __future__ import annotations

import importlib
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.kinds.base import RunKind, check_own_folder, refuse_changes
from ganforge.training.run_folder import RunFolder

__all__ = ["DEFAULT_KIND", "RUN_KINDS", "RunKind", "check_own_folder", "kind_for_data", "kind_named", "kind_of",
           "refuse_changes"]

# kind name → "module:class" (imported when first needed: tables bring pandas)
RUN_KINDS = {"tensor": "ganforge.kinds.tensor:TensorRuns", "table": "ganforge.kinds.table:TableRuns",
             "sequence": "ganforge.kinds.sequence:SequenceRuns", "pairs": "ganforge.kinds.pairs:PairRuns"}
DEFAULT_KIND = "tensor"  # runs from before kinds were recorded were image or vector runs


def kind_named(name: str) -> RunKind:
    """The run kind called `name`."""
    if name not in RUN_KINDS:
        raise GanforgeError(f"unknown run kind {name!r}; this ganforge knows {', '.join(RUN_KINDS)}")
    module, cls = RUN_KINDS[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def kind_for_data(spec: str, options: dict[str, Any] | None = None) -> RunKind:
    """The kind that trains on `--data spec` with these `options` (a TrainConfig's JSON form: `--sequence` makes a
    CSV a time series); images and vectors unless another kind claims it. Later kinds are asked first: a more
    particular kind (sequences) is registered after the one it narrows (tables)."""
    for name in reversed(RUN_KINDS):
        kind = kind_named(name)
        if name != DEFAULT_KIND and kind.claims(spec, options or {}):
            return kind
    return kind_named(DEFAULT_KIND)


def kind_of(run: RunFolder) -> RunKind:
    """The kind recorded in a run folder."""
    return kind_named(run.read_config().get("kind", DEFAULT_KIND))
