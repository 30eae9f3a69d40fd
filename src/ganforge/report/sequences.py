"""The report's section of a finished time-series run: real and synthetic series overlaid, and PCA and t-SNE of
both sets, from the series the run wrote when it ended and its training data."""

from __future__ import annotations

import json
from typing import Any

from ganforge.report import charts
from ganforge.training.run_folder import FINAL_ATTRIBUTES_FILE, FINAL_SERIES_FILE

SERIES_SHOWN, EMBEDDED = 12, 300  # series overlaid per feature; samples of each set in the PCA and t-SNE plots
FEATURES_SHOWN, GROUPS_SHOWN, PER_GROUP = 8, 8, 6  # features overlaid; attribute values, and series of each


def sequence_section(view: Any) -> dict[str, Any] | None:
    """Real and synthetic series overlaid per feature, PCA and t-SNE of both sets (as the TimeGAN paper shows
    them), and the last evaluation's scores, for a finished time-series run: the series its training wrote when it
    ended (`samples/final_series.npy`) against its training data. The live report leaves them out."""
    if view.kind != "sequence" or view.status() != "finished":
        return None
    import numpy as np

    from ganforge.data import load_dataset
    from ganforge.data.sequences import series_options

    final = view.run.samples / FINAL_SERIES_FILE
    try:
        synthetic = np.load(final, allow_pickle=False).astype(np.float64)
        dataset = load_dataset(view.config["data"], progress=False, labels=False,
                               series=series_options(view.config))
    except Exception as error:
        return {"missing": f"the training series {view.config.get('data')} or {final} could not be compared here "
                           f"({error})"}
    count = min(EMBEDDED, len(dataset), len(synthetic))
    real, synthetic = dataset.real_samples(count, seed=0).double().numpy(), synthetic[:count]
    names = (dataset.codec.columns or [f"feature {i}" for i in range(real.shape[-1])])[:FEATURES_SHOWN]
    overlays = charts.series_overlays(real[:SERIES_SHOWN], synthetic[:SERIES_SHOWN], names)
    found = {"overlays": overlays, "embeddings": charts.embeddings(_embedded(real, synthetic)),
             "evaluation": view.eval_report, "shown": min(SERIES_SHOWN, count), "features": real.shape[-1],
             "features_shown": len(names)}
    layout = dataset.codec.layout
    if layout is not None:
        real_statics = dataset.codec.decode_statics(dataset.model_samples(count, seed=0))
        attributes = view.run.samples / FINAL_ATTRIBUTES_FILE
        synthetic_statics = json.loads(attributes.read_text()) if attributes.is_file() else {}
        synthetic_statics = {k: v[:count] for k, v in synthetic_statics.items()}
        found["attributes"] = _attribute_rows(real, synthetic, real_statics, synthetic_statics, layout.lengths)
        grouped = next((s for s in layout.statics if s.values is not None and s.name in synthetic_statics), None)
        if grouped is not None:
            found["by_attribute"] = grouped.name
            found["group_overlays"] = charts.group_overlays(
                _groups(real, synthetic, real_statics[grouped.name], synthetic_statics[grouped.name]), names[0])
    return found


def _groups(real: Any, synthetic: Any, real_values: list, synthetic_values: list) -> dict[str, tuple[Any, Any]]:
    """The first feature's series of each of the most common values of an attribute: (real, synthetic)."""
    import numpy as np

    common = sorted(set(real_values), key=lambda v: -real_values.count(v))[:GROUPS_SHOWN]
    real_values, synthetic_values = np.asarray(real_values, dtype=object), np.asarray(synthetic_values, dtype=object)
    return {str(value): (real[real_values == value][:PER_GROUP, :, 0],
                         synthetic[synthetic_values == value][:PER_GROUP, :, 0]) for value in common}


def _attribute_rows(real: Any, synthetic: Any, real_statics: dict, synthetic_statics: dict,
                    lengths: bool) -> list[tuple[str, str, str]]:
    """(what, real, synthetic) rows: the series' lengths, each category's share and each number's mean ± std."""
    import numpy as np

    rows = []
    if lengths:
        def shown(x: Any) -> str:
            steps = (~np.isnan(x).all(2)).sum(1)
            return f"{steps.mean():.1f} (from {steps.min()} to {steps.max()})"
        rows.append(("length (steps)", shown(real), shown(synthetic)))
    for name, values in real_statics.items():
        made = synthetic_statics.get(name, [])
        if values and isinstance(values[0], str):
            for value in sorted(set(values), key=lambda v: -values.count(v))[:GROUPS_SHOWN]:
                rows.append((f"{name} = {value}", f"{values.count(value) / len(values):.0%}",
                             f"{made.count(value) / max(len(made), 1):.0%}" if made else "—"))
        else:
            def spread(x: list) -> str:
                return f"{np.mean(x):.4g} ± {np.std(x):.3g}" if x else "—"
            rows.append((name, spread(values), spread(made)))
    return rows


def _embedded(real: Any, synthetic: Any) -> dict[str, tuple[Any, Any]]:
    """TimeGAN's visualisation: each series averaged over its features, then PCA fitted on the real series, and
    t-SNE of both sets together."""
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    low, high = np.nanmin(real, (0, 1)), np.nanmax(real, (0, 1))
    span = np.where(high > low, high - low, 1.0)
    # each feature on [0, 1] first; the steps after a shorter series' end count as 0, as TimeGAN pads them
    real, synthetic = (np.nan_to_num(((x - low) / span).mean(2)) for x in (real, synthetic))
    pca = PCA(2, random_state=0).fit(real)
    both = np.concatenate([real, synthetic])
    # perplexity 40 and 300 iterations, as TimeGAN's visualisation_metrics.py
    mapped = TSNE(2, perplexity=min(40.0, (len(both) - 1) / 3), max_iter=300, init="pca",
                  random_state=0).fit_transform(both)
    return {"PCA": (pca.transform(real), pca.transform(synthetic)),
            "t-SNE": (mapped[: len(real)], mapped[len(real) :])}
