"""The Python API: `train` a GAN into a run folder, `load` its generator back, `sample` from it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ganforge.config import TrainConfig, build_config
from ganforge.data import absolute_data, check_spec
from ganforge.kinds import RunKind, check_own_folder, kind_for_data, kind_named, kind_of
from ganforge.kinds.generator import TrainedGenerator, evaluate, load, path, truncate
from ganforge.presets import preset_options
from ganforge.training.loop import TrainResult
from ganforge.training.run_folder import RunFolder

__all__ = ["TrainResult", "TrainedGenerator", "absolute_data", "check_train", "evaluate", "load", "path", "train",
           "truncate"]
log = logging.getLogger("ganforge")


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
        run = RunFolder.open(resume, unstarted=True)
        if data is not None:
            options = {**options, "data": data}
        if not run.started:
            kind, cfg, given = _start_again(run, options)
            log.info("run %s was stopped before its first step; starting it again", run.path)
            return kind.train(cfg, given, progress)
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
    return kind_for_data(cfg.data, cfg.to_json()).train(cfg, given, progress)


def check_train(data: str | None = None, *, resume: str | Path | None = None, config: dict[str, Any] | None = None,
                **options: Any) -> RunKind:
    """What `train` with these arguments would refuse, refused now without training; returns the run kind
    (`ganforge.kinds.RunKind`) it would train. Launchers call it before starting processes."""
    if resume is not None:
        run = RunFolder.open(resume, unstarted=True)
        if not run.started:
            kind, cfg, _ = _start_again(run, {**options, "data": data} if data is not None else options)
            check_spec(cfg.data)
            return kind
        kind = kind_of(run)
        kind.check_resume(run, {**options, "data": data} if data is not None else options)
        return kind
    values = {**(config or {}), **options}
    if data is not None:
        values["data"] = data
    if values.get("preset"):
        values = {**preset_options(values["preset"]), **values}
    cfg = build_config(values, source="options").validate()
    check_spec(cfg.data)
    return kind_for_data(absolute_data(cfg.data), cfg.to_json())


def _start_again(run: RunFolder, options: dict[str, Any]) -> tuple[RunKind, TrainConfig, set[str] | None]:
    """(kind, configuration, options the user chose) to train a run killed before it wrote `config.json` again,
    from step 0, in its own folder: the options it was started with, under those given now."""
    record = run.read_start()
    options = {key.replace("-", "_"): value for key, value in options.items()}
    check_own_folder(run, options.pop("out", None))
    build_config(options, source="options")  # an unknown or bad option is named as the user's
    values = {**record["options"], **options, "out": str(run.path)}
    cfg = build_config(values, source=str(run.start_path)).validate()
    cfg.data = absolute_data(cfg.data)
    given = None if record["given"] is None else set(record["given"]) | set(options)
    return kind_named(record["kind"]), cfg, given
