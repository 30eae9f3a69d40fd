"""The README's time-series picture: real and synthetic series of a sequence run overlaid per feature, beside PCA and
t-SNE of both sets (as the report shows them).

    python scripts/timeseries_figure.py runs/sines docs/timeseries.png
"""

from __future__ import annotations

import sys

from matplotlib.figure import Figure

import ganforge
from ganforge.kinds.generator import real_data_for
from ganforge.report.sequences import _embedded
from ganforge.training.run_folder import RunFolder

SHOWN, EMBEDDED = 10, 500


def main(run: str, out: str) -> None:
    """Write the figure of `run` to `out` (PNG)."""
    dataset = real_data_for(RunFolder(run))
    real = dataset.real_samples(EMBEDDED, seed=0).double().numpy()
    fake = ganforge.load(run).sample(EMBEDDED, seed=0).double().numpy()
    features = min(real.shape[-1], 5)
    figure = Figure(figsize=(2.2 * (features + 2), 2.3), dpi=110)
    for index in range(features):
        axes = figure.add_subplot(1, features + 2, index + 1)
        for i in range(SHOWN):
            axes.plot(real[i, :, index], color="#999999", linewidth=0.9, label="real" if i == 0 else None)
            axes.plot(fake[i, :, index], color="#d62728", linewidth=0.9, alpha=0.8,
                      label="synthetic" if i == 0 else None)
        axes.set_title((dataset.codec.columns or [])[index] if dataset.codec.columns else f"feature {index}",
                       fontsize=8, loc="left")
        axes.tick_params(labelsize=6)
        if index == 0:
            axes.legend(fontsize=6, frameon=False)
    for offset, (title, (a, b)) in enumerate(_embedded(real, fake).items()):
        axes = figure.add_subplot(1, features + 2, features + 1 + offset)
        axes.scatter(a[:, 0], a[:, 1], s=3, color="#999999", linewidths=0)
        axes.scatter(b[:, 0], b[:, 1], s=3, color="#d62728", alpha=0.6, linewidths=0)
        axes.set_title(title, fontsize=8, loc="left")
        axes.set_xticks([])
        axes.set_yticks([])
    figure.tight_layout()
    figure.savefig(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
