"""The report's section of a finished table run: real and synthetic distributions per column, the pair-trend heat
map and the last evaluation."""

from __future__ import annotations

import math
from typing import Any

from ganforge.report import charts


def table_section(view: Any) -> dict[str, Any] | None:
    """Real vs synthetic distributions per column and the pair-trend heat map of a finished table run."""
    if view.kind != "table" or view.stored.get("status") != "done":
        return None
    from ganforge.tabular import quality
    from ganforge.tabular.run import load_table_run
    from ganforge.tabular.schema import read_table

    try:
        return _table_charts(view, read_table(view.config["data"]), load_table_run(view.path), quality)
    except Exception as error:
        return {"missing": f"the training table {view.config.get('data')} could not be compared here ({error})"}


def _table_charts(view: Any, real: Any, model: Any, quality: Any) -> dict[str, Any]:
    synthetic = model.sample(min(len(real), 5000), seed=0)
    real = real.sample(min(len(real), 5000), random_state=0)
    kinds = {spec.name: spec.kind for spec in model.transformer.columns}
    columns = []
    for name, kind in kinds.items():
        if kind in quality.NUMERIC_KINDS:
            scale = 86400.0 if kind == "datetime" else 1.0  # dates as days since 1970: matplotlib's date numbers
            as_numbers = [(quality._as_numbers(frame[name], kind).astype(float) / scale).tolist()
                          for frame in (real, synthetic)]
            columns.append({"name": name, "kind": "datetime" if kind == "datetime" else "numeric",
                            "real": [v for v in as_numbers[0] if math.isfinite(v)],
                            "synthetic": [v for v in as_numbers[1] if math.isfinite(v)]})
        else:
            shares = [quality._labels(frame[name]).value_counts(normalize=True) for frame in (real, synthetic)]
            top = shares[0].index[:10]
            columns.append({"name": name, "kind": "category", "real": {str(k): float(shares[0][k]) for k in top},
                            "synthetic": {str(k): float(shares[1].get(k, 0.0)) for k in top}})
    pairs = quality.column_pair_trends(real, synthetic, kinds)
    differences = {(a, b): 1 - pairs[f"{a} / {b}"] for i, a in enumerate(kinds) for b in list(kinds)[i + 1 :]
                   if f"{a} / {b}" in pairs}
    return {"distributions": charts.distributions(columns),
            "heat_map": charts.heat_map(list(kinds), differences) if differences else None,
            "evaluation": view.eval_report}
