"""The Python API: `train` a GAN into a run folder, `load` its generator back, `sample` from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganforge.config import build_config
from ganforge.data import absolute_data
from ganforge.kinds import RunKind, kind_for_data, kind_of
from ganforge.kinds.generator import TrainedGenerator, evaluate, load, path, truncate
from ganforge.presets import preset_options
from ganforge.training.loop import TrainResult
from ganforge.training.run_folder import RunFolder

__all__ = ["TrainResult", "TrainedGenerator", "absolute_data", "check_train", "evaluate", "load", "path", "train",
           "truncate"]


def train(data: str | None = None, *, resume: str | Path | None = None, progress: bool = True,
          config: dict[str, Any] | None = None, **options: Any) -> TrainResult:
    """Train a GAN and return where its run folder is.

    `data` is a built-in name (`ganforge datasets`), a folder of images, an `.npy`/`.npz` file or a table (`.csv`,
    `.tsv`, `.parquet`); `options` are the `ganforge train` flags with underscores (`steps=2000`, `model="mlp"`,
    `out="runs/r"`), applied over `config` (values from a TOML file), applied over the `preset` named in either.
    `resume` continues an earlier run exactly where it stopped, to the new `steps` (tables: `epochs`). The kind of
    run (`ganforge.kinds`) is chosen by the data and recorded in the run folder.
    """
    if resume is not None:
        run = RunFolder.open(resume)
        if data is not None:
            options = {**options, "data": data}
        return kind_of(run).resume(run, options, progress)
    values = {**(config or {}), **options}
    if data is not None:
        values["data"] = data
    given = set(values)  # what the user chose; tables take their own defaults for the rest
    preset = values.get("preset")
    if preset:
        values = {**preset_options(preset), **values}
    cfg = build_config(values, source="options").validate()
    cfg.data = absolute_data(cfg.data)
    return kind_for_data(cfg.data).train(cfg, given, progress)


def check_train(data: str | None = None, *, resume: str | Path | None = None, config: dict[str, Any] | None = None,
                **options: Any) -> RunKind:
    """What `train` with these arguments would refuse, refused now without training; returns the run kind
    (`ganforge.kinds.RunKind`) it would train. Launchers call it before starting processes."""
    if resume is not None:
        run = RunFolder.open(resume)
        kind = kind_of(run)
        kind.check_resume(run, {**options, "data": data} if data is not None else options)
        return kind
    values = {**(config or {}), **options}
    if data is not None:
        values["data"] = data
    if values.get("preset"):
        values = {**preset_options(values["preset"]), **values}
    cfg = build_config(values, source="options").validate()
    from ganforge.data import check_spec

    check_spec(cfg.data)
    return kind_for_data(absolute_data(cfg.data))

