"""Time series: fixed-length sequences (N, T, F) from arrays, one long series in a CSV cut into windows, or the
built-in `sines` of TimeGAN.

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

from ganforge.data.base import Codec, Dataset
from ganforge.errors import GanforgeError

log = logging.getLogger(__name__)
SINES = (10_000, 24, 5)  # TimeGAN's sines: samples, steps, features


@dataclass(frozen=True)
class SeriesOptions:
    """How `--data` is read as sequences: `window` steps per sample (stride 1), the column that orders a CSV
    (`time_column`), and the one that names several series in it (`id_column`: windows never cross two series)."""

    window: int | None = None
    time_column: str | None = None
    id_column: str | None = None


def series_options(config: dict) -> SeriesOptions | None:
    """How a run's stored (or given) options read its data as time series: set by `--sequence` or any of
    `--window`, `--time-column` and `--id-column` (None when none is given)."""
    if not any(config.get(key) for key in ("sequence", "window", "time_column", "id_column")):
        return None
    return SeriesOptions(config.get("window"), config.get("time_column") or None, config.get("id_column") or None)


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
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise GanforgeError(f"array file {path} contains NaN or infinite values")
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
    return sequence_dataset(path.stem, array, None, {"source": str(path)})


def csv_sequences(path: Path, options: SeriesOptions) -> Dataset:
    """A CSV as sequences: one long series in row order (or ordered by `--time-column`), or several named by
    `--id-column`, each cut into windows of `--window` steps with stride 1."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise GanforgeError(f"table {path} could not be read as CSV: {error}") from None
    for option, column in (("--time-column", options.time_column), ("--id-column", options.id_column)):
        if column is not None and column not in frame.columns:
            raise GanforgeError(f"option {option} {column!r} is not a column of {path}; its columns are "
                                f"{', '.join(map(str, frame.columns))}")
    if options.window is None:
        raise GanforgeError(f"table {path} read as a series needs --window N: the number of steps in each sample")
    time_column = options.time_column or _date_column(frame, options.id_column)
    if time_column is not None:
        if options.time_column is None:
            log.info("%s: rows put in time order by column %r, which holds dates (--time-column names another)",
                     path, time_column)
        frame = _ordered(frame, time_column, path)
    features = [c for c in frame.columns if c not in (time_column, options.id_column)]
    if not features:
        raise GanforgeError(f"table {path} has no feature columns besides the time and id columns")
    for column in features:
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
        frame[column] = values
    groups = [frame] if options.id_column is None else [g for _, g in frame.groupby(options.id_column, sort=True)]
    kept = [g for g in groups if options.id_column is None or len(g) >= options.window]
    if not kept:
        raise GanforgeError(f"option --window {options.window} is longer than every series in {path}")
    if len(kept) < len(groups):
        log.warning("%d of %d series in %s are shorter than --window %d and were left out", len(groups) - len(kept),
                    len(groups), path, options.window)
    info = {"source": str(path), "series": len(groups), "window": options.window}
    return series_dataset(path.stem, [g[features].to_numpy(np.float64) for g in kept], options.window, f"{path}",
                          [str(c) for c in features], info)


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
