"""Rows ↔ the numbers a tabular GAN reads and writes.

Continuous, integer and datetime columns use mode-specific normalisation (Xu et al. 2019, CTGAN): a Gaussian
mixture is fitted to the column, each value is described by the mode it came from (one-hot) and its offset within
that mode (a scalar in (−1, 1)). Categorical and boolean columns are one-hot. A column with missing values gets a
present/missing indicator (or a missing category), so missing values come back at their real rate.

The encoded table is stored compactly: offsets as float32 and every one-hot as an integer code. One-hot vectors are
made per batch (`expand`), so a column with thousands of categories costs memory per batch, not per row.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture
from torch import Tensor

from ganforge.errors import GanforgeError
from ganforge.tabular.schema import ColumnSpec, datetime_seconds, zone_from_name

MAX_MODES = 10
MIN_MODE_WEIGHT = 0.005
GMM_FIT_ROWS = 5_000  # fitting on a sample keeps large tables fast; the modes of a column need no more
OFFSET_SCALE = 4.0  # an offset of ±1 is 4 standard deviations from the mode's mean


@dataclass
class Span:
    """One block of the encoded row: a tanh scalar (`value`) or a softmax group (`mode`, `missing`, `category`)."""

    column: int  # index into the column specs
    role: str
    width: int
    slot: int  # index into the offsets (tanh) or codes (softmax) arrays
    mode_slot: int = -1  # for a value span: the code slot of its column's mode
    start: int = 0  # where the span begins in an encoded row (set by TableTransformer)

    @property
    def activation(self) -> str:
        """`tanh` for offsets, `softmax` for one-hot groups."""
        return "tanh" if self.role == "value" else "softmax"


class TableTransformer:
    """Fitted encoder/decoder between a DataFrame and the GAN's representation."""

    def __init__(self, columns: list[ColumnSpec], modes: dict[str, dict[str, list[float]]]):
        self.columns, self.modes = columns, modes
        self.spans: list[Span] = []
        offsets = codes = 0
        for index, spec in enumerate(columns):
            if spec.kind in ("categorical", "boolean"):
                width = len(spec.categories) + bool(spec.rare_categories) + (spec.missing_rate > 0)
                self.spans.append(Span(index, "category", width, codes))
                codes += 1
                continue
            self.spans.append(Span(index, "value", 1, offsets, mode_slot=codes))
            self.spans.append(Span(index, "mode", len(modes[spec.name]["means"]), codes))
            offsets, codes = offsets + 1, codes + 1
            if spec.missing_rate > 0:
                self.spans.append(Span(index, "missing", 2, codes))
                codes += 1
        self.n_offsets, self.n_codes = offsets, codes
        # where each span, so each offset and each code's one-hot group, begins in the expanded row (for `expand`)
        value_positions, value_slots, code_starts, self.width = [], [], [0] * codes, 0
        for span in self.spans:
            span.start, self.width = self.width, self.width + span.width
            if span.role == "value":
                value_positions.append(span.start)
                value_slots.append(span.slot)
            else:
                code_starts[span.slot] = span.start
        self._value_positions = torch.tensor(value_positions, dtype=torch.long)
        self._value_slots = torch.tensor(value_slots, dtype=torch.long)
        self._code_starts = torch.tensor(code_starts, dtype=torch.long)

    # ----------------------------------------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: list[ColumnSpec], seed: int = 0) -> TableTransformer:
        """Fit a mixture of Gaussians to every numeric column (on at most `GMM_FIT_ROWS` values)."""
        modes = {}
        rng = np.random.default_rng(seed)
        for spec in columns:
            if spec.kind in ("categorical", "boolean"):
                continue
            values = _numeric(frame[spec.name], spec)
            values = values[~np.isnan(values)]
            if len(values) > GMM_FIT_ROWS:
                values = rng.choice(values, GMM_FIT_ROWS, replace=False)
            modes[spec.name] = _fit_modes(values, seed)
        return cls(columns, modes)

    # ---------------------------------------------------------------------------------------------- encoding
    def encode(self, frame: pd.DataFrame, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Offsets (N × n_offsets, float32) and one-hot codes (N × n_codes, int64) of every row."""
        rng = np.random.default_rng(seed)
        n = len(frame)
        offsets = np.zeros((n, self.n_offsets), np.float32)
        codes = np.zeros((n, self.n_codes), np.int64)
        for span in self.spans:
            spec = self.columns[span.column]
            column = frame[spec.name]
            if span.role == "category":
                codes[:, span.slot] = _category_codes(column, spec)
            elif span.role == "value":
                values = _numeric(column, spec)
                missing = np.isnan(values)
                mode, offset = self._assign_modes(spec.name, np.where(missing, self.modes[spec.name]["means"][0],
                                                                      values), rng)
                offsets[:, span.slot] = offset
                codes[:, span.mode_slot] = mode
            elif span.role == "missing":
                codes[:, span.slot] = column.isna().to_numpy().astype(np.int64)
        return offsets, codes

    def _assign_modes(self, name: str, values: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Each value's mode, drawn from the mixture's posterior (as CTGAN does), and its offset in that mode."""
        means = np.asarray(self.modes[name]["means"])
        stds = np.asarray(self.modes[name]["stds"])
        weights = np.asarray(self.modes[name]["weights"])
        log_p = np.log(weights) - np.log(stds) - 0.5 * ((values[:, None] - means) / stds) ** 2
        posterior = np.exp(log_p - log_p.max(1, keepdims=True))
        posterior /= posterior.sum(1, keepdims=True)
        cumulative = posterior.cumsum(1)
        mode = (rng.random(len(values))[:, None] > cumulative).sum(1).clip(0, len(means) - 1)
        offset = ((values - means[mode]) / (OFFSET_SCALE * stds[mode])).clip(-0.99, 0.99)
        return mode, offset.astype(np.float32)

    def expand(self, offsets: Tensor, codes: Tensor) -> Tensor:
        """A batch of encoded rows as the GAN's input: offsets in place, codes as one-hot groups."""
        rows = torch.zeros(len(offsets), self.width, dtype=offsets.dtype)
        rows[:, self._value_positions] = offsets[:, self._value_slots]
        return rows.scatter_(1, codes + self._code_starts, 1.0)

    # ---------------------------------------------------------------------------------------------- decoding
    def decode(self, raw: Tensor, seed: int = 0) -> pd.DataFrame:
        """Generator output (after its activations) → rows with the training table's columns and dtypes
        (`seed` draws the value of rows given a column's shared rare-category code)."""
        rng = np.random.default_rng(seed)
        raw = raw.detach().float().cpu().numpy()
        pieces = {(span.column, span.role): raw[:, span.start : span.start + span.width] for span in self.spans}
        columns = {}
        for index, spec in enumerate(self.columns):
            if spec.kind in ("categorical", "boolean"):
                code = pieces[(index, "category")].argmax(1)
                columns[spec.name] = _categories_back(code, spec, rng)
                continue
            mode = pieces[(index, "mode")].argmax(1)
            offset = np.clip(pieces[(index, "value")][:, 0], -1, 1)
            means = np.asarray(self.modes[spec.name]["means"])
            stds = np.asarray(self.modes[spec.name]["stds"])
            values = (offset * OFFSET_SCALE * stds[mode] + means[mode]).clip(spec.minimum, spec.maximum)
            if (index, "missing") in pieces:
                values = np.where(pieces[(index, "missing")].argmax(1) == 1, np.nan, values)
            columns[spec.name] = _numbers_back(values, spec)
        return pd.DataFrame(columns)

    # ------------------------------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        """Plain JSON: the column specs and the fitted modes."""
        return {"columns": [spec.to_json() for spec in self.columns], "modes": self.modes}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableTransformer:
        """Rebuild from `to_json` output."""
        return cls([ColumnSpec.from_json(c) for c in data["columns"]], data["modes"])

    def condition_spans(self) -> list[Span]:
        """The category spans, which the conditional vector covers."""
        return [span for span in self.spans if span.role == "category"]


def _fit_modes(values: np.ndarray, seed: int) -> dict[str, list[float]]:
    """A Bayesian Gaussian mixture with a Dirichlet-process prior keeps only the modes the data supports."""
    spread = float(values.std()) if len(values) > 1 else 0.0
    floor = max(spread, abs(float(values.mean())) if len(values) else 1.0, 1.0) * 1e-3
    distinct = np.unique(values)
    if len(distinct) < 2:
        return {"means": [float(distinct[0]) if len(distinct) else 0.0], "stds": [floor], "weights": [1.0]}
    mixture = BayesianGaussianMixture(n_components=min(MAX_MODES, len(distinct)), weight_concentration_prior=1e-3,
                                      weight_concentration_prior_type="dirichlet_process", max_iter=100,
                                      n_init=1, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mixture.fit(values.reshape(-1, 1))
    keep = mixture.weights_ > MIN_MODE_WEIGHT
    means = mixture.means_[keep, 0]
    stds = np.sqrt(mixture.covariances_[keep].reshape(-1)).clip(floor, None)
    weights = mixture.weights_[keep] / mixture.weights_[keep].sum()
    return {"means": means.tolist(), "stds": stds.tolist(), "weights": weights.tolist()}


def _numeric(column: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """A numeric-like column as float64 with NaN for missing (datetimes as seconds since 1970)."""
    if spec.kind == "datetime":
        seconds = np.full(len(column), np.nan)
        present = column.notna().to_numpy()
        seconds[present] = datetime_seconds(column[present], spec.date_format)
        return seconds
    try:
        return pd.to_numeric(column, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError):
        raise GanforgeError(f"column {spec.name!r} was {spec.kind} when the model was fitted but now holds "
                            "non-numeric values") from None


def _category_codes(column: pd.Series, spec: ColumnSpec) -> np.ndarray:
    lookup = {value: code for code, value in enumerate(spec.categories)}
    lookup.update(dict.fromkeys(spec.rare_categories, len(spec.categories)))
    missing_code = len(spec.categories) + bool(spec.rare_categories)
    codes = np.empty(len(column), np.int64)
    for i, value in enumerate(column.tolist()):
        if pd.isna(value):
            codes[i] = missing_code
        else:
            code = lookup.get(value.item() if isinstance(value, np.generic) else value)
            if code is None:
                raise GanforgeError(f"column {spec.name!r} has value {value!r}, which was not in the training data")
            codes[i] = code
    return codes


def _categories_back(code: np.ndarray, spec: ColumnSpec, rng: np.random.Generator) -> pd.Series:
    rare = [None] if spec.rare_categories else []
    values = np.array([*spec.categories, *rare, None], dtype=object)[code]
    if spec.rare_categories:
        is_rare = code == len(spec.categories)
        drawn = rng.choice(len(spec.rare_categories), int(is_rare.sum()), p=np.asarray(spec.rare_weights))
        values[is_rare] = np.array(spec.rare_categories, dtype=object)[drawn]
    series = pd.Series(values)
    if spec.kind == "boolean":
        return series.astype("boolean") if spec.missing_rate > 0 else series.astype(bool)
    if spec.dtype.startswith(("int", "Int", "uint", "float")):
        numeric = pd.to_numeric(series)
        if spec.dtype.startswith(("int", "uint", "Int")):
            return numeric.astype("Int64") if spec.missing_rate > 0 else numeric.astype(spec.dtype)
        return numeric.astype(spec.dtype)
    return series


def _numbers_back(values: np.ndarray, spec: ColumnSpec) -> pd.Series:
    if spec.kind == "datetime":
        dates_only = spec.date_format is not None and not any(code in spec.date_format for code in ("%H", "%M", "%S"))
        unit = 86_400 if dates_only else 1  # dates round to the nearest day, not down
        stamps = pd.to_datetime(pd.Series(np.round(values / unit) * unit), unit="s")
        if spec.timezone:  # the model works in UTC seconds; the user's zone comes back on the way out
            stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(zone_from_name(spec.timezone))
        if spec.dtype.startswith("datetime64"):
            with contextlib.suppress(TypeError, ValueError):  # the user's unit (us, ns) where pandas can name it
                stamps = stamps.astype(spec.dtype)
            return stamps
        return stamps.dt.strftime(spec.date_format).where(stamps.notna())
    if spec.kind == "integer":
        rounded = pd.Series(np.round(values))
        if spec.missing_rate > 0 or not spec.dtype.startswith(("int", "uint")):
            return rounded.astype("Int64")
        return rounded.astype(spec.dtype)
    if spec.decimals is not None:  # as many decimals as the data had (prices in cents stay in cents)
        values = np.round(values, spec.decimals)
    series = pd.Series(values)
    return series.astype(spec.dtype) if spec.dtype.startswith("float") else series
