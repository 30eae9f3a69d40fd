"""The report's section of a finished time-series run: real and synthetic series overlaid, and PCA and t-SNE of
both sets, from the series the run wrote when it ended and its training data."""

from __future__ import annotations

from typing import Any

from ganforge.report import charts
from ganforge.training.run_folder import FINAL_SERIES_FILE

SERIES_SHOWN, EMBEDDED = 12, 300  # series overlaid per feature; samples of each set in the PCA and t-SNE plots
FEATURES_SHOWN = 8


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
    return {"overlays": overlays, "embeddings": charts.embeddings(_embedded(real, synthetic)),
            "evaluation": view.eval_report, "shown": min(SERIES_SHOWN, count), "features": real.shape[-1],
            "features_shown": len(names)}


def _embedded(real: Any, synthetic: Any) -> dict[str, tuple[Any, Any]]:
    """TimeGAN's visualisation: each series averaged over its features, then PCA fitted on the real series, and
    t-SNE of both sets together."""
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    low = real.min((0, 1))
    span = np.where(real.max((0, 1)) > low, real.max((0, 1)) - low, 1.0)
    real, synthetic = (((x - low) / span).mean(2) for x in (real, synthetic))  # each feature on [0, 1] first
    pca = PCA(2, random_state=0).fit(real)
    both = np.concatenate([real, synthetic])
    # perplexity 40 and 300 iterations, as TimeGAN's visualisation_metrics.py
    mapped = TSNE(2, perplexity=min(40.0, (len(both) - 1) / 3), max_iter=300, init="pca",
                  random_state=0).fit_transform(both)
    return {"PCA": (pca.transform(real), pca.transform(synthetic)),
            "t-SNE": (mapped[: len(real)], mapped[len(real) :])}
