"""How good a synthetic table is: fidelity, usefulness and privacy.

- Fidelity follows the definitions of SDMetrics' QualityReport so that numbers are comparable with published ones:
  column shapes (1 − Kolmogorov–Smirnov statistic for numbers and datetimes, 1 − total variation distance for
  categories) and column pair trends (1 − |Δ Pearson correlation| / 2 for two numeric columns, 1 − total variation
  distance of the joint frequencies otherwise, numbers cut into 10 equal-width bins of their own range).
  Quality is the mean of the two.
- Efficacy: a gradient-boosted model trained on synthetic rows and tested on real held-out rows (ROC AUC for a
  two-class target, accuracy for more classes, R² for a number), next to the same model trained on the real rows.
- Privacy: the distance from each synthetic row to its closest real training row (DCR), compared with the same
  distance for real held-out rows, and the share of synthetic rows that copy a training row exactly (beside the
  share of real held-out rows that happen to equal a training row: tables of a few discrete columns repeat rows).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from scipy.stats.contingency import association

from ganforge.errors import GanforgeError
from ganforge.tabular.schema import datetime_seconds

NUMERIC_KINDS = ("continuous", "integer", "datetime")
PAIR_BINS = 10
MISSING = "<missing>"
MIN_CORRELATION, MIN_ASSOCIATION = 0.5, 0.3  # SDMetrics' QualityReport thresholds for a pair to count


def _as_numbers(column: pd.Series, kind: str) -> pd.Series:
    if kind == "datetime":
        return pd.Series(datetime_seconds(column), index=column.index)
    return pd.to_numeric(column, errors="coerce").astype(float)


def _labels(column: pd.Series) -> pd.Series:
    """Category values as text, missing as its own label (pandas' string dtype would keep NaN as NaN)."""
    return column.astype(object).map(label)


def label(value: Any) -> str:
    """One text form per value: 2, 2.0 and "2" are the same category (a column with missing values reads as float)."""
    if pd.isna(value):
        return MISSING
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str]) -> dict[str, float]:
    """Per column: KS complement (numbers, datetimes) or TV complement (categories), in [0, 1], 1 = identical."""
    scores = {}
    for name, kind in kinds.items():
        if kind in NUMERIC_KINDS:
            a, b = _as_numbers(real[name], kind).dropna(), _as_numbers(synthetic[name], kind).dropna()
            scores[name] = float(1 - ks_2samp(a, b).statistic) if len(a) and len(b) else float("nan")
        else:
            p = _labels(real[name]).value_counts(normalize=True, dropna=False)
            q = _labels(synthetic[name]).value_counts(normalize=True, dropna=False)
            scores[name] = float(1 - 0.5 * p.subtract(q, fill_value=0).abs().sum())
    return scores


def _binned(column: pd.Series) -> pd.Series:
    values = column.to_numpy(dtype=float)
    present = values[~np.isnan(values)]
    edges = np.histogram_bin_edges(present, bins=PAIR_BINS) if len(present) else np.array([0.0, 1.0])
    return pd.Series(np.digitize(values, edges), index=column.index)  # NaN lands in its own bin


def column_pair_trends(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str]) -> dict[str, float]:
    """Per pair of columns that is associated in the real data: correlation similarity (two numeric columns) or
    contingency similarity. As in SDMetrics' report, only pairs with |Pearson r| > 0.5, or Cramér's V > 0.3, count:
    a synthetic table is not judged on relations the real one does not have."""
    numbers = {side: {n: _as_numbers(frame[n], k) for n, k in kinds.items() if k in NUMERIC_KINDS}
               for side, frame in (("real", real), ("synthetic", synthetic))}
    scores = {}
    for a, b in itertools.combinations(kinds, 2):
        if kinds[a] in NUMERIC_KINDS and kinds[b] in NUMERIC_KINDS:
            correlations = []
            for side in ("real", "synthetic"):
                pair = pd.DataFrame({"a": numbers[side][a], "b": numbers[side][b]}).dropna()
                valid = len(pair) > 1 and pair["a"].nunique() > 1 and pair["b"].nunique() > 1
                correlations.append(float(np.corrcoef(pair["a"], pair["b"])[0, 1]) if valid else np.nan)
            if abs(correlations[0]) > MIN_CORRELATION:
                scores[f"{a} / {b}"] = float(1 - abs(correlations[0] - correlations[1]) / 2)
            continue
        tables = []
        for side, frame in (("real", real), ("synthetic", synthetic)):
            pair = {}
            for name in (a, b):
                pair[name] = _binned(numbers[side][name]) if kinds[name] in NUMERIC_KINDS \
                    else _labels(frame[name])
            tables.append(pd.DataFrame(pair).value_counts(dropna=False))
        if _cramers_v(tables[0]) > MIN_ASSOCIATION:
            p, q = tables[0] / tables[0].sum(), tables[1] / tables[1].sum()
            scores[f"{a} / {b}"] = float(1 - 0.5 * p.subtract(q, fill_value=0).abs().sum())
    return scores


def _cramers_v(counts: pd.Series) -> float:
    """Cramér's V of a two-column frequency table (0 when either column has a single value)."""
    table = counts.unstack(fill_value=0).to_numpy()
    if table.sum() == 0 or min(table.shape) < 2:
        return 0.0
    return float(association(table, method="cramer"))


def quality_report(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str]) -> dict[str, Any]:
    """Column shapes, column pair trends and their mean (the overall quality score)."""
    missing = [name for name in kinds if name not in synthetic.columns]
    if missing:
        raise GanforgeError(f"synthetic table lacks column(s) {', '.join(missing)}")
    shapes = column_shapes(real, synthetic, kinds)
    pairs = column_pair_trends(real, synthetic, kinds)
    shape_score = float(np.nanmean(list(shapes.values())))
    pair_score = float(np.nanmean(list(pairs.values()))) if pairs else shape_score
    # with no associated pair, SDMetrics' overall score is the shapes score; the count says the pair score is void
    return {"quality": (shape_score + pair_score) / 2, "column_shapes": shape_score, "column_pair_trends": pair_score,
            "pairs_counted": len(pairs), "shapes_by_column": shapes}


def exact_copy_share(train: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """The share of synthetic rows equal to some training row (missing values equal each other; 30, 30.0 and an
    Int64 30 are one number)."""
    columns = [name for name in synthetic.columns if name in train.columns]

    def comparable(frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for name in columns:
            column = frame[name]
            if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
                out[name] = pd.to_numeric(column, errors="coerce").astype("float64").astype(str)
            else:
                out[name] = column.astype(str)
        return pd.DataFrame(out)

    seen = set(pd.util.hash_pandas_object(comparable(train), index=False))
    hashes = pd.util.hash_pandas_object(comparable(synthetic), index=False)
    return float(hashes.isin(seen).mean()) if len(hashes) else 0.0


# ------------------------------------------------------------------------------------------------ efficacy
def _features(frame: pd.DataFrame, kinds: dict[str, str], target: str) -> pd.DataFrame:
    out = {}
    for name, kind in kinds.items():
        if name == target:
            continue
        out[name] = _as_numbers(frame[name], kind) if kind in NUMERIC_KINDS \
            else _labels(frame[name]).astype("category")
    return pd.DataFrame(out)


def efficacy(train: pd.DataFrame, test: pd.DataFrame, kinds: dict[str, str], target: str,
             seed: int = 0) -> dict[str, Any]:
    """Score on real `test` rows of a HistGradientBoosting model fitted on `train` rows (real or synthetic)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if target not in kinds:
        raise GanforgeError(f"--target {target!r} is not a modelled column; columns are {', '.join(kinds)}")
    if len(kinds) < 2:
        raise GanforgeError(f"efficacy needs at least one column besides --target {target!r} to predict it from")
    categories = {n: sorted(set(_labels(train[n])) | set(_labels(test[n])))
                  for n, k in kinds.items() if k not in NUMERIC_KINDS and n != target}
    x_train, x_test = _features(train, kinds, target), _features(test, kinds, target)
    for name, values in categories.items():  # the same category codes on both sides
        x_train[name] = pd.Categorical(_labels(x_train[name]), categories=values)
        x_test[name] = pd.Categorical(_labels(x_test[name]), categories=values)
    if kinds[target] in NUMERIC_KINDS:
        y_train, y_test = _as_numbers(train[target], kinds[target]), _as_numbers(test[target], kinds[target])
        keep_train, keep_test = y_train.notna(), y_test.notna()
        model = HistGradientBoostingRegressor(random_state=seed, categorical_features="from_dtype")
        model.fit(x_train[keep_train], y_train[keep_train])
        return {"target": target, "metric": "r2",
                "score": float(r2_score(y_test[keep_test], model.predict(x_test[keep_test])))}
    y_train, y_test = _labels(train[target]), _labels(test[target])
    if y_train.nunique() < 2:
        return {"target": target, "metric": "auc", "score": 0.5}  # one class learnt: no better than chance
    model = HistGradientBoostingClassifier(random_state=seed, categorical_features="from_dtype")
    model.fit(x_train, y_train)
    if y_test.nunique() == 2:
        positive = sorted(y_test.unique())[1]
        classes = list(model.classes_)
        scores = model.predict_proba(x_test)[:, classes.index(positive)] if positive in classes \
            else np.zeros(len(x_test))
        return {"target": target, "metric": "auc", "score": float(roc_auc_score(y_test == positive, scores))}
    return {"target": target, "metric": "accuracy", "score": float(accuracy_score(y_test, model.predict(x_test)))}


# ------------------------------------------------------------------------------------------------- privacy
def _privacy_matrix(frames: list[pd.DataFrame], kinds: dict[str, str], reference: pd.DataFrame) -> list[np.ndarray]:
    """Numbers scaled by the reference's range, categories one-hot, missing as its own value."""
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    for name, kind in kinds.items():
        if kind in NUMERIC_KINDS:
            ref = _as_numbers(reference[name], kind)
            low, span = ref.min(), (ref.max() - ref.min()) or 1.0
            for i, frame in enumerate(frames):
                values = ((_as_numbers(frame[name], kind) - low) / span).to_numpy()
                blocks[i].append(np.nan_to_num(values, nan=-1.0)[:, None])
        else:
            values = sorted(set(_labels(reference[name])))
            for i, frame in enumerate(frames):
                codes = pd.Categorical(_labels(frame[name]), categories=values).codes
                onehot = np.zeros((len(frame), len(values) + 1))
                onehot[np.arange(len(frame)), codes] = 1.0  # code -1 (unseen) fills the last column
                blocks[i].append(onehot)
    return [np.hstack(b).astype(np.float32) for b in blocks]


def privacy(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str],
            max_rows: int = 5_000, seed: int = 0) -> dict[str, Any]:
    """Distance to closest record (median) of synthetic rows and of real holdout rows, and exact-copy share."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    take = lambda f: f.iloc[rng.permutation(len(f))[:max_rows]]  # noqa: E731
    train_x, holdout_x, synth_x = _privacy_matrix([train, take(holdout), take(synthetic)], kinds, train)
    index = NearestNeighbors(n_neighbors=1).fit(train_x)
    synth_d = index.kneighbors(synth_x)[0][:, 0]
    holdout_d = index.kneighbors(holdout_x)[0][:, 0]
    # Tables of a few discrete columns repeat rows by nature, so copies are judged against the holdout's own rate.
    return {"dcr_synthetic_median": float(np.median(synth_d)), "dcr_holdout_median": float(np.median(holdout_d)),
            "dcr_synthetic_mean": float(synth_d.mean()), "dcr_holdout_mean": float(holdout_d.mean()),
            "exact_copies": float(np.mean(synth_d < 1e-9)), "holdout_exact_copies": float(np.mean(holdout_d < 1e-9))}
