"""Reading tables and deciding what each column is: continuous, integer, boolean, categorical or datetime.

The inferred kinds can be overridden (`categorical=[...]`, `ignore=[...]`); every choice is plain JSON so a saved model
knows how to write rows back in the user's dtypes.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from ganforge.errors import GanforgeError

TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq"}
KINDS = ("continuous", "integer", "boolean", "categorical", "datetime")
# A numeric column with this few distinct values is a set of categories (number of children, a 1–5 rating, an age
# recorded in bands): modelling it as categories reproduces each value, and its frequency, exactly.
MAX_NUMERIC_CATEGORIES = 20
# Categories beyond this many (by frequency) share one "rare" code in the model and are drawn back by their real
# frequency, so a column with thousands of values costs bounded memory and still trains.
MAX_MODELLED_CATEGORIES = 500


@dataclass
class ColumnSpec:
    """What one column is and what its values may be."""

    name: str
    kind: str
    dtype: str
    missing_rate: float = 0.0
    categories: list[Any] = field(default_factory=list)  # categorical and boolean columns, in a fixed order
    rare_categories: list[Any] = field(default_factory=list)  # modelled together as one code
    rare_weights: list[float] = field(default_factory=list)  # their real frequencies within that code
    minimum: float | None = None  # continuous, integer and datetime columns (datetimes as seconds since 1970)
    maximum: float | None = None
    date_format: str | None = None  # datetimes read from text are written back as text in this format
    timezone: str | None = None  # zoned datetimes come back in this zone (a name, or an offset such as +01:00)
    decimals: int | None = None  # continuous columns: the decimals the data has (at most 6), kept in samples

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColumnSpec:
        """Rebuild from `to_json` output."""
        return cls(**data)


def decimal_places(values: np.ndarray, most: int = 6) -> int | None:
    """The fewest decimals (0 to `most`) that write every value exactly, or None when more are needed."""
    values = values[np.isfinite(values)]
    for places in range(most + 1):
        if np.allclose(np.round(values, places), values, rtol=1e-12, atol=1e-12):  # float64 round-off only
            return places
    return None


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV, TSV or parquet file as a DataFrame, or a one-line error naming the file and what is wrong."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if not path.is_file():
        raise GanforgeError(f"table {path} does not exist")
    if path.stat().st_size == 0:
        raise GanforgeError(f"table {path} is empty; expected a header line and rows")
    try:
        if suffix in {".parquet", ".pq"}:
            try:
                frame = pd.read_parquet(path)
            except ImportError:
                raise GanforgeError(f"reading {path} needs pyarrow: pip install 'ganforge[parquet]'") from None
        else:
            separator = "\t" if suffix == ".tsv" else _sniff_separator(path)
            _check_unique_header(path, separator)
            frame = pd.read_csv(path, sep=separator, low_memory=False)
    except GanforgeError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GanforgeError(f"table {path} could not be read: {first}") from None
    if frame.empty:
        raise GanforgeError(f"table {path} has no rows (columns: {', '.join(map(str, frame.columns[:8]))})")
    return frame


def _sniff_separator(path: Path) -> str:
    """Comma unless the header line holds more semicolons, tabs or pipes (a European-style CSV, say)."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    counts = {separator: header.count(separator) for separator in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > counts[","] else ","


def _check_unique_header(path: Path, separator: str) -> None:
    # pandas silently renames a repeated header "a" to "a.1", so the header row is read raw.
    raw = pd.read_csv(path, sep=separator, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    repeated = sorted({name for name in raw if raw.count(name) > 1})
    if repeated:
        raise GanforgeError(f"table {path} has duplicate column names: {', '.join(map(repr, repeated))}")


def _jsonable(value: Any) -> Any:
    """A category value as JSON can hold it (numpy scalars as Python numbers, timestamps as ISO text)."""
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).isoformat()
    return value.item() if isinstance(value, np.generic) else value


def infer_columns(frame: pd.DataFrame, categorical: list[str] | None = None, ignore: list[str] | None = None,
                  source: str = "table") -> list[ColumnSpec]:
    """One spec per modelled column; `categorical` forces columns to categories, `ignore` leaves columns out."""
    categorical, ignore = list(categorical or []), list(ignore or [])
    if frame.columns.duplicated().any():
        repeated = sorted(set(map(str, frame.columns[frame.columns.duplicated()])))
        raise GanforgeError(f"{source} has duplicate column names: {', '.join(repeated)}")
    for option, names in (("--categorical", categorical), ("--ignore", ignore)):
        unknown = [name for name in names if name not in frame.columns]
        if unknown:
            raise GanforgeError(f"{option} names column(s) {', '.join(map(repr, unknown))} that {source} does not "
                                f"have; its columns are {', '.join(map(str, frame.columns[:12]))}")
    if len(frame) == 0:
        raise GanforgeError(f"{source} has no rows")
    specs = []
    for name in frame.columns:
        if name in ignore:
            continue
        column = frame[name]
        present = column.dropna()
        if present.empty:
            raise GanforgeError(f"column {name!r} of {source} has no values (every row is missing); drop it or "
                                "pass --ignore")
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if numeric and not np.isfinite(present.to_numpy(dtype=float)).all():
            raise GanforgeError(f"column {name!r} of {source} holds infinite values; expected finite numbers "
                                "(replace them, or leave the cells empty to mark them missing)")
        spec = ColumnSpec(str(name), _kind(column, present, name in categorical), str(column.dtype),
                          missing_rate=float(column.isna().mean()))
        if spec.kind in ("categorical", "boolean"):
            counts = present.value_counts(sort=True)
            kept, rare = counts.iloc[:MAX_MODELLED_CATEGORIES], counts.iloc[MAX_MODELLED_CATEGORIES:]
            spec.categories = [_jsonable(v) for v in sorted(kept.index, key=lambda v: (str(type(v)), v))]
            spec.rare_categories = [_jsonable(v) for v in rare.index]
            spec.rare_weights = (rare / rare.sum()).tolist() if len(rare) else []
        elif spec.kind == "datetime":
            if pd.api.types.is_datetime64_any_dtype(column):
                zone = getattr(column.dt, "tz", None)
                spec.timezone = None if zone is None else _zone_name(zone, present)
            else:
                spec.date_format = guess_date_format(present)
                if spec.date_format and "%z" in spec.date_format:
                    spec.timezone = _commonest_offset(present, spec.date_format)
            seconds = datetime_seconds(present, spec.date_format)
            spec.minimum, spec.maximum = float(np.nanmin(seconds)), float(np.nanmax(seconds))
        else:
            spec.minimum, spec.maximum = float(present.min()), float(present.max())
            if spec.kind == "continuous":
                spec.decimals = decimal_places(present.to_numpy(dtype=float))
        specs.append(spec)
    if not specs:
        raise GanforgeError(f"{source} has no columns left to model")
    return specs


def _kind(column: pd.Series, present: pd.Series, forced_categorical: bool) -> str:
    if forced_categorical:
        return "categorical"
    if pd.api.types.is_bool_dtype(column) or (present.map(type).eq(bool).all()):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    if pd.api.types.is_numeric_dtype(column):
        if present.nunique() <= MAX_NUMERIC_CATEGORIES:
            return "categorical"
        whole = bool(np.all(np.mod(present.to_numpy(dtype=float), 1) == 0))
        return "integer" if whole else "continuous"
    if guess_date_format(present) is not None:
        return "datetime"
    return "categorical"


def guess_date_format(present: pd.Series) -> str | None:
    """The one strftime format that every value of a text column parses with (month-first tried before day-first),
    or None when the column is not dates. Writing dates back in the user's own format needs exactly one."""
    text = present.astype(str)
    if not text.str.contains(r"\d", regex=True).all():
        return None
    for dayfirst in (False, True):
        fmt = guess_datetime_format(text.iloc[0], dayfirst=dayfirst)
        has_year = fmt is not None and ("%Y" in fmt or "%y" in fmt)
        if not has_year or not any(code in fmt for code in ("%m", "%b", "%B")):  # "2012" alone is a number
            continue
        parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)  # utc: offsets may differ by row
        if parsed.notna().all():
            return fmt
    return None


def datetime_seconds(values: pd.Series, fmt: str | None = None) -> np.ndarray:
    """Datetimes (or date strings in `fmt`, else any format) as float seconds since 1970 (UTC for zoned times);
    NaN where missing or unreadable."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
    else:  # utc=True reads strings with different offsets (summer and winter time) as instants in one zone
        stamps = pd.to_datetime(values.astype(str) if fmt else values, format=fmt or "mixed", errors="coerce",
                                utc=True)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    nanoseconds = stamps.to_numpy(dtype="datetime64[ns]").astype("int64").astype(np.float64)
    return np.where(stamps.isna().to_numpy(), np.nan, nanoseconds / 1e9)


def _zone_name(zone: Any, present: pd.Series) -> str:
    """A time zone as text that `zone_from_name` reads back: its name, or else the UTC offset of the first value
    as +HH:MM (fixed offsets, and zones pandas cannot find by name again, such as dateutil's)."""
    if not isinstance(zone, datetime.timezone) or zone is datetime.UTC:
        with contextlib.suppress(Exception):
            pd.Timestamp(0, tz=str(zone))
            return str(zone)
    return _offset_text(present.iloc[0].utcoffset() or datetime.timedelta(0))


def _offset_text(offset: datetime.timedelta) -> str:
    minutes = round(offset.total_seconds() / 60)
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _commonest_offset(present: pd.Series, fmt: str) -> str:
    """The UTC offset most values of a text column carry (they all come back with it: winter and summer time in one
    zone differ by an hour, and one offset keeps every written time a correct instant)."""
    offsets = []
    for text in present.astype(str).iloc[:1000]:
        with contextlib.suppress(ValueError):
            offsets.append(_offset_text(datetime.datetime.strptime(text, fmt).utcoffset() or datetime.timedelta(0)))
    return collections.Counter(offsets).most_common(1)[0][0] if offsets else "+00:00"  # ties: the first seen


def zone_from_name(name: str) -> Any:
    """The time zone for a `ColumnSpec.timezone`: a fixed offset for +HH:MM, else the name (pandas resolves it)."""
    if name[:1] in "+-" and len(name) == 6:
        sign = -1 if name[0] == "-" else 1
        return datetime.timezone(sign * datetime.timedelta(hours=int(name[1:3]), minutes=int(name[4:6])))
    return name
