"""Time series: sequences (N, T, F) from arrays, one long series in a CSV cut into windows, many series in a CSV
(`--id-column`: cut into windows, or whole and of different lengths, with per-series attributes), or the built-in
`sines` of TimeGAN.

Series of different lengths are padded to the longest and carry a presence channel (`SeriesLayout`): the generator
learns where each series ends as one more channel, so sampled lengths follow the data's. Attributes that do not change
within a series (`--static-columns`, DoppelGANger's metadata) follow as channels of their own, repeated at every step.

Model space: each feature min-max scaled over all samples and steps to [-1, 1] (the generator ends in tanh). TimeGAN's
metrics work on the same scaling mapped to [0, 1] (`unit_range`). The codec stores each feature's centre and half
range, so a generator decodes to the user's units without the data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganforge.data.base import Codec, Dataset, SeriesLayout, Static
from ganforge.errors import GanforgeError

log = logging.getLogger(__name__)
SINES = (10_000, 24, 5)  # TimeGAN's sines: samples, steps, features


@dataclass(frozen=True)
class SeriesOptions:
    """How `--data` is read as sequences: `window` steps per sample (stride 1), the column that orders a CSV
    (`time_column`), the one that names several series in it (`id_column`: windows never cross two series; without
    `window` each series is one sample) and the columns constant within each series (`static_columns`)."""

    window: int | None = None
    time_column: str | None = None
    id_column: str | None = None
    static_columns: tuple[str, ...] = ()


def series_options(config: dict) -> SeriesOptions | None:
    """How a run's stored (or given) options read its data as time series: set by `--sequence` or any of
    `--window`, `--time-column`, `--id-column` and `--static-columns` (None when none is given)."""
    if not any(config.get(key) for key in ("sequence", "window", "time_column", "id_column", "static_columns")):
        return None
    statics = config.get("static_columns") or ()
    if isinstance(statics, str):
        statics = tuple(c.strip() for c in statics.split(",") if c.strip())
    return SeriesOptions(config.get("window"), config.get("time_column") or None, config.get("id_column") or None,
                         tuple(statics))


def sines(n: int = SINES[0], length: int = SINES[1], features: int = SINES[2], seed: int = 0) -> np.ndarray:
    """TimeGAN's `sine_data_generation`: each feature of each sample is sin(f·t + φ) with f and φ drawn uniformly
    from [0, 0.1], t = 0 … length-1, mapped to [0, 1] by (x + 1) / 2; float64 (N, T, F)."""
    rng = np.random.default_rng(seed)
    draws = rng.uniform(0.0, 0.1, size=(n, features, 2))  # (freq, phase) per sample and feature, in that order
    steps = np.arange(length, dtype=np.float64)
    waves = np.sin(draws[:, :, :1] * steps + draws[:, :, 1:])  # (N, F, T)
    return ((waves + 1.0) * 0.5).transpose(0, 2, 1)


def sequence_dataset(name: str, array: np.ndarray, columns: list[str] | None = None,
                     info: dict | None = None) -> Dataset:
    """(N, T, F) numbers as a dataset of sequences in model space."""
    samples = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    codec = Codec.for_sequences(samples, columns)
    return Dataset(name, codec, codec.encode(samples), dict(info or {}))


def series_dataset(name: str, groups: list[np.ndarray], window: int, source: str, columns: list[str] | None = None,
                   info: dict | None = None) -> Dataset:
    """Long (T, F) series cut into windows of `window` steps, in model space. Each series is scaled before it is
    cut (stride-1 windows cover every step, so the ranges are the same), so a long series is copied once, as
    float32 windows, rather than once per step of the pipeline."""
    low = torch.from_numpy(np.min([g.min(0) for g in groups], axis=0))
    high = torch.from_numpy(np.max([g.max(0) for g in groups], axis=0))
    codec = Codec.for_ranges(low, high, (window, groups[0].shape[1]), columns)
    cut = [windows(codec.encode(torch.from_numpy(g)).numpy(), window, source) for g in groups]
    samples = torch.from_numpy(cut[0] if len(cut) == 1 else np.concatenate(cut))
    return Dataset(name, codec, samples, dict(info or {}))


def padded_dataset(name: str, series: list[np.ndarray], statics: list[tuple[Static, np.ndarray]] | None = None,
                   columns: list[str] | None = None, info: dict | None = None) -> Dataset:
    """Whole series (each (L_i, F)) as one sample each, in model space: features scaled to [-1, 1] and padded with
    0 to the longest; a presence channel when the lengths differ; then each attribute's channels (its model-space
    value at every step; `statics`: each attribute with its model-space values (N, width))."""
    statics = statics or []
    lengths = np.array([len(s) for s in series])
    variable = bool((lengths != lengths[0]).any())
    layout = SeriesLayout(variable, tuple(static for static, _ in statics))
    features, longest = series[0].shape[1], int(lengths.max())
    low = torch.from_numpy(np.min([s.min(0) for s in series], axis=0))
    high = torch.from_numpy(np.max([s.max(0) for s in series], axis=0))
    codec = Codec.for_ranges(low, high, (longest, features + layout.extra), columns)
    codec.mean, codec.std = codec.mean[:features], codec.std[:features]
    if columns is None:
        codec.columns = codec.columns[:features]
    codec.layout = layout if layout.extra else None
    samples = torch.zeros(len(series), longest, features + layout.extra)
    for i, values in enumerate(series):
        samples[i, : len(values), :features] = codec.encode(torch.from_numpy(values))
    if variable:
        samples[:, :, features] = torch.where(torch.arange(longest)[None] < torch.from_numpy(lengths)[:, None],
                                              1.0, -1.0)
    if statics:
        channels = torch.from_numpy(np.concatenate([values for _, values in statics], 1)).float()
        samples[:, :, features + int(variable) :] = channels[:, None, :]
        codec.layout = layout.counted(samples)
    found = dict(info or {})
    if variable:
        found["lengths"] = [int(lengths.min()), int(lengths.max())]
    return Dataset(name, codec, samples, found)


def builtin_sines(size: int | None = None, channels: int | None = None) -> Dataset:
    """The built-in `sines`: 10,000 sequences of 24 steps and 5 features, as TimeGAN generates them."""
    return sequence_dataset("sines", sines(), [f"sine{i}" for i in range(SINES[2])],
                            {"source": "TimeGAN's sine_data_generation (10,000 × 24 × 5)"})


def windows(series: np.ndarray, window: int, source: str) -> np.ndarray:
    """Every `window` consecutive steps of a (T, F) series, stride 1: (T − window + 1, window, F)."""
    if window < 2:
        raise GanforgeError(f"option --window must be at least 2 steps, got {window}")
    if window > len(series):
        raise GanforgeError(f"option --window {window} is longer than the series in {source} ({len(series)} steps); "
                            "give a shorter window")
    view = np.lib.stride_tricks.sliding_window_view(series, window, axis=0)  # (T − w + 1, F, w)
    return np.ascontiguousarray(view.transpose(0, 2, 1))


def array_sequences(path: Path, array: np.ndarray, options: SeriesOptions) -> Dataset:
    """A (N, T, F) array as sequences; a (T, F) array is one long series, cut into `--window` steps."""
    if array.dtype.kind not in "biuf":
        raise GanforgeError(f"array file {path} has dtype {array.dtype}; expected numbers (int or float)")
    if array.dtype.kind == "f" and np.isinf(array).any():
        raise GanforgeError(f"array file {path} contains infinite values")
    padded = array.dtype.kind == "f" and array.ndim == 3 and bool(np.isnan(array).any())
    if array.dtype.kind == "f" and np.isnan(array).any() and not padded:
        raise GanforgeError(f"array file {path} contains NaN values; only (N, T, F) sequences may hold NaN, as "
                            "the padding after a shorter series' end")
    if array.ndim == 2:
        if options.window is None:
            raise GanforgeError(f"array file {path} is one series of {array.shape[0]} steps × {array.shape[1]} "
                                "features; give --window N to cut it into samples of N steps")
        return series_dataset(path.stem, [array.astype(np.float64)], options.window, f"array file {path}",
                              info={"source": str(path)})
    if array.ndim != 3:
        raise GanforgeError(f"array file {path} has shape {array.shape}; sequences are (N, T, F) arrays or one "
                            "(T, F) series with --window")
    elif options.window is not None and options.window != array.shape[1]:
        raise GanforgeError(f"array file {path} holds sequences of {array.shape[1]} steps; --window applies to one "
                            "long series (drop it)")
    if len(array) < 2 or array.shape[1] < 2:
        raise GanforgeError(f"array file {path} has shape {array.shape}; sequences need at least 2 samples of 2 "
                            "steps")
    if padded:
        return padded_dataset(path.stem, _unpadded(array, path), info={"source": str(path)})
    return sequence_dataset(path.stem, array, None, {"source": str(path)})


def _unpadded(array: np.ndarray, path: Path) -> list[np.ndarray]:
    """The series of a NaN-padded (N, T, F) array, each cut at its end: NaN may fill whole steps after the end of a
    series (how `ganforge sample` writes series of different lengths), nowhere else."""
    missing = np.isnan(array)
    whole_steps = missing.all(2)
    lengths = np.where(whole_steps.any(1), whole_steps.argmax(1), array.shape[1])
    after_end = np.arange(array.shape[1])[None] >= lengths[:, None]
    if (missing.any(2) != after_end).any():
        where = np.argwhere(missing.any(2) != after_end)[0]
        raise GanforgeError(f"array file {path}: sequence {where[0]} has NaN at step {where[1]} that is not "
                            "padding (NaN may only fill every feature of the steps after a series ends)")
    if lengths.min() < 2:
        raise GanforgeError(f"array file {path}: sequence {int(lengths.argmin())} has {int(lengths.min())} steps "
                            "before its NaN padding; each needs at least 2")
    return [array[i, :length].astype(np.float64) for i, length in enumerate(lengths)]


def csv_sequences(path: Path, options: SeriesOptions) -> Dataset:
    """A CSV as sequences: one long series in row order (or ordered by `--time-column`), or several named by
    `--id-column`, each cut into windows of `--window` steps with stride 1 or, without `--window`, each one sample
    (padded to the longest); `--static-columns` are each series' attributes, generated with it."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise GanforgeError(f"table {path} could not be read as CSV: {error}") from None
    named = [("--time-column", options.time_column), ("--id-column", options.id_column),
             *(("--static-columns", c) for c in options.static_columns)]
    for option, column in named:
        if column is not None and column not in frame.columns:
            raise GanforgeError(f"option {option} {column!r} is not a column of {path}; its columns are "
                                f"{', '.join(map(str, frame.columns))}")
    if options.static_columns and options.id_column is None:
        raise GanforgeError(f"option --static-columns needs --id-column: attributes belong to each series of {path}")
    if options.window is None and options.id_column is None:
        raise GanforgeError(f"table {path} read as a series needs --window N: the number of steps in each sample "
                            "(or --id-column, to take each series whole)")
    time_column = options.time_column or _date_column(frame, options.id_column)
    if time_column is not None:
        if options.time_column is None:
            log.info("%s: rows put in time order by column %r, which holds dates (--time-column names another)",
                     path, time_column)
        frame = _ordered(frame, time_column, path)
    other = (time_column, options.id_column, *options.static_columns)
    features = [c for c in frame.columns if c not in other]
    if not features:
        raise GanforgeError(f"table {path} has no feature columns besides the time, id and static columns")
    for column in features:
        frame[column] = _numbers(frame, column, path)
    groups = [("", frame)] if options.id_column is None else list(frame.groupby(options.id_column, sort=True))
    shortest = options.window or 2
    kept = [(key, g) for key, g in groups if options.id_column is None or len(g) >= shortest]
    if not kept:
        raise GanforgeError(f"option --window {options.window} is longer than every series in {path}"
                            if options.window else f"every series in {path} has fewer than 2 steps")
    if len(kept) < len(groups):
        log.warning("%d of %d series in %s are shorter than %s and were left out", len(groups) - len(kept),
                    len(groups), path, f"--window {options.window}" if options.window else "2 steps")
    info = {"source": str(path), "series": len(groups), "window": options.window}
    statics = _statics(kept, options, path)
    values = [g[features].to_numpy(np.float64) for _, g in kept]
    names = [str(c) for c in features]
    if options.window is None:
        return padded_dataset(path.stem, values, statics, names, info)
    dataset = series_dataset(path.stem, values, options.window, f"{path}", names, info)
    if not statics:
        return dataset
    per_series = torch.tensor([len(v) - options.window + 1 for v in values])
    channels = torch.from_numpy(np.concatenate([v for _, v in statics], 1)).float().repeat_interleave(per_series, 0)
    dataset.samples = torch.cat([dataset.samples, channels[:, None, :].expand(-1, options.window, -1)], 2)
    layout = SeriesLayout(False, tuple(static for static, _ in statics)).counted(dataset.samples)
    dataset.codec.layout, dataset.codec.shape = layout, (options.window, len(features) + layout.extra)
    return dataset


def _numbers(frame, column: str, path: Path):
    """A feature column as numbers: text or a missing value is refused with its row."""
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce")
    text = values.isna() & frame[column].notna()
    if text.any():
        row = int(np.flatnonzero(text.to_numpy())[0])
        raise GanforgeError(f"column {column!r} of {path} holds text ({frame[column].iloc[row]!r} in data row "
                            f"{row + 1}); a series' features must be numbers")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise GanforgeError(f"column {column!r} of {path} has a missing value in data row {row + 1}; fill or "
                            "drop missing values first")
    return values


def _statics(groups: list, options: SeriesOptions, path: Path) -> list[tuple[Static, np.ndarray]]:
    """Each `--static-columns` attribute and its model-space channels per series: numbers min-max scaled to
    [-1, 1], anything else a category (one ±1 channel per value). Each must be one value throughout a series."""
    import pandas as pd

    found = []
    for column in options.static_columns:
        per_series = []
        for key, group in groups:
            values = group[column]
            if values.isna().any():
                raise GanforgeError(f"static column {column!r} of {path} has a missing value in series {key!r}")
            if values.nunique() != 1:
                shown = ", ".join(map(repr, values.unique()[:3]))
                raise GanforgeError(f"static column {column!r} of {path} changes within series {key!r} ({shown}); "
                                    "an attribute must be one value per series (make it a feature instead)")
            per_series.append(values.iloc[0])
        numbers = pd.to_numeric(pd.Series(per_series), errors="coerce")
        if numbers.notna().all() and not pd.api.types.is_bool_dtype(pd.Series(per_series)):
            low, high = float(numbers.min()), float(numbers.max())
            half = (high - low) / 2 or 1.0
            whole = bool((numbers == numbers.round()).all())
            static = Static(str(column), (low + high) / 2, half, integer=whole)
            channels = ((numbers.to_numpy(np.float64) - static.centre) / half)[:, None]
        else:
            names = sorted({str(v) for v in per_series})
            static = Static(str(column), values=tuple(names))
            index = np.array([names.index(str(v)) for v in per_series])
            channels = np.eye(len(names))[index] * 2.0 - 1.0
        found.append((static, channels))
    return found


def _date_column(frame, id_column: str | None) -> str | None:
    """The one column that is not numbers and reads wholly as dates (a series' time stamps), if there is one."""
    import pandas as pd

    found = []
    for column in frame.columns:
        if column == id_column or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        dates = pd.to_datetime(frame[column], errors="coerce", format="mixed")
        if dates.notna().all():
            found.append(column)
    return found[0] if len(found) == 1 else None


def _ordered(frame, column: str, path: Path):
    """Rows sorted by `column` (dates or numbers), stably."""
    import pandas as pd

    values = frame[column]
    key = pd.to_numeric(values, errors="coerce")
    if key.isna().any():
        key = pd.to_datetime(values, errors="coerce", format="mixed")
    if key.isna().any():
        row = int(np.flatnonzero(key.isna().to_numpy())[0])
        raise GanforgeError(f"option --time-column {column!r}: data row {row + 1} of {path} holds "
                            f"{values.iloc[row]!r}, neither a number nor a date")
    return frame.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def unit_range(x: Tensor, codec: Codec) -> Tensor:
    """Sequences in the user's units → what TimeGAN's metrics are computed on: its data loader min-max scales each
    feature of a data set to [0, 1] by the training data's range, and leaves data already within [0, 1] (its
    sines) as they are, so that their scores keep the published units."""
    centre, half = torch.tensor(codec.mean, dtype=torch.float64), torch.tensor(codec.std, dtype=torch.float64)
    if bool((centre - half >= 0).all() and (centre + half <= 1).all()):
        return x.double()
    return (codec.encode(x).double() + 1.0) / 2.0
