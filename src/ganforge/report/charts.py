"""The report's charts: matplotlib figures (object API, no global state) written as inline SVG, so a page shows
them with JavaScript off and fetches nothing."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure

# Figures are made with the object API (no pyplot, no backend switch), so a notebook's own plots are left alone.
RC = {"svg.fonttype": "none"}
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
FINDING = "#f2c14e"  # shading of a diagnosis while it lasted
ROLLBACK = "#c0392b"


_charts = 0  # counts the charts made, so each SVG's element ids differ from every other's on a page


def _svg(figure: Figure) -> str:
    """The figure as an SVG element (text kept as text: smaller, and readable by the browser's find)."""
    global _charts
    _charts += 1
    buffer = io.StringIO()
    with matplotlib.rc_context({**RC, "svg.hashsalt": f"ganforge-{_charts}"}):
        figure.savefig(buffer, format="svg")  # fixed margins: a "tight" box costs a second drawing pass
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg") :], flags=re.S)  # creator, date
    return text


def plain(text: Any) -> str:
    """Text shown as written: a `$` would start mathtext (a column or class named "$10k-$20k")."""
    return str(text).replace("$", r"\$")


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def line_chart(title: str, series: dict[str, Sequence[tuple[float, Any]]], spans: Sequence[dict[str, Any]] = (),
               log_scale: bool = False, width: float = 5.6, height: float = 2.6,
               styles: dict[str, tuple[str, str]] | None = None) -> str:
    """Lines of (step, value) against step; NaN and missing values leave gaps. `spans` are diagnoses drawn where they
    started and ended (`start`, `end`, `label`) and rollbacks (`start` only, `rollback` true)."""
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(width, height), dpi=100)
        figure.subplots_adjust(left=0.12, right=0.97, top=0.88, bottom=0.18)
        _lines(figure.add_subplot(), title, series, spans, log_scale, styles)
        return _svg(figure)


def small_multiples(panels: dict[str, dict[str, Sequence[tuple[float, Any]]]],
                    spans: Sequence[dict[str, Any]] = (), per_row: int = 4,
                    styles: dict[str, tuple[str, str]] | None = None) -> str:
    """One small line chart per panel, in one figure (one SVG is much cheaper to make than one per panel)."""
    rows = max(1, math.ceil(len(panels) / per_row))
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(2.9 * per_row, 2.2 * rows), dpi=100)
        figure.subplots_adjust(left=0.06, right=0.98, top=1 - 0.3 / (2.2 * rows), bottom=0.45 / (2.2 * rows),
                               wspace=0.35, hspace=0.6)
        for index, (title, series) in enumerate(panels.items()):
            _lines(figure.add_subplot(rows, per_row, index + 1), title, series, spans, False, styles)
        return _svg(figure)


def _lines(axes: Any, title: str, series: dict[str, Sequence[tuple[float, Any]]], spans: Sequence[dict[str, Any]],
           log_scale: bool, styles: dict[str, tuple[str, str]] | None = None) -> None:
    """`styles`: name → (colour, line style), so that one run keeps one colour across a comparison's charts."""
    plotted = 0
    for index, (name, points) in enumerate(series.items()):
        xs = [p[0] for p in points]
        ys = [_number(p[1]) for p in points]
        if not any(math.isfinite(y) for y in ys):
            continue
        if log_scale:
            ys = [y if y > 0 else math.nan for y in ys]
        color, line = (styles or {}).get(name, (PALETTE[index % len(PALETTE)], "-"))
        axes.plot(xs, ys, label=plain(name), color=color, linestyle=line, linewidth=1.2,
                  marker="o" if len(xs) < 3 else None, markersize=3)
        plotted += 1
    for span in spans:
        if span.get("rollback"):
            axes.axvline(span["start"], color=ROLLBACK, linewidth=1, linestyle="--")
        else:
            axes.axvspan(span["start"], span["end"], color=FINDING, alpha=0.3, linewidth=0)
    if log_scale and plotted:
        axes.set_yscale("log")
    if not plotted:
        axes.text(0.5, 0.5, "no finite values yet", transform=axes.transAxes, ha="center", va="center",
                  color="#777")
    axes.set_title(plain(title), fontsize=10, loc="left")
    axes.set_xlabel("step", fontsize=8)
    axes.tick_params(which="both", labelsize=7)
    axes.grid(alpha=0.3)
    if plotted > 1:
        axes.legend(fontsize=7, frameon=False)


def distributions(columns: Sequence[dict[str, Any]], per_row: int = 4) -> str:
    """Real vs synthetic per column: overlaid histograms for numbers, paired bars for categories. Each column is
    {name, kind, real, synthetic} where numbers are lists of floats and categories {label: share} pairs."""
    with matplotlib.rc_context(RC):
        return _distributions(columns, per_row)


def _distributions(columns: Sequence[dict[str, Any]], per_row: int) -> str:
    rows = max(1, math.ceil(len(columns) / per_row))
    figure = Figure(figsize=(2.6 * per_row, 2.0 * rows), dpi=100)
    for index, column in enumerate(columns):
        axes = figure.add_subplot(rows, per_row, index + 1)
        if column["kind"] in ("numeric", "datetime"):
            real, fake = column["real"], column["synthetic"]
            values = [v for v in real + fake if math.isfinite(v)]
            if values:
                low, high = min(values), max(values)
                bins = [low + (high - low) * i / 30 for i in range(31)] if high > low else 10
                axes.hist(real, bins=bins, density=True, alpha=0.5, color=PALETTE[0], label="real")
                axes.hist(fake, bins=bins, density=True, alpha=0.5, color=PALETTE[1], label="synthetic")
            axes.set_yticks([])  # densities: the shapes compare, the numbers say little
            if column["kind"] == "datetime":  # days since 1970, matplotlib's own date numbers
                axes.xaxis_date()
                axes.tick_params(axis="x", labelrotation=30)
        else:
            labels = list(column["real"])
            positions = range(len(labels))
            axes.bar([p - 0.2 for p in positions], [column["real"][k] for k in labels], width=0.4, color=PALETTE[0],
                     label="real")
            axes.bar([p + 0.2 for p in positions], [column["synthetic"].get(k, 0.0) for k in labels], width=0.4,
                     color=PALETTE[1], label="synthetic")
            axes.set_xticks(list(positions), [plain(label[:10]) for label in labels], rotation=45, ha="right",
                            fontsize=6)
        axes.set_title(plain(column["name"]), fontsize=8, loc="left")
        axes.legend(fontsize=6, frameon=False)
        axes.tick_params(labelsize=6)
    figure.tight_layout()
    return _svg(figure)


def heat_map(names: Sequence[str], differences: dict[tuple[str, str], float]) -> str:
    """Pair-trend differences (0 = the synthetic rows keep the real relation) for the pairs that were judged."""
    with matplotlib.rc_context(RC):
        return _heat_map(names, differences)


def _heat_map(names: Sequence[str], differences: dict[tuple[str, str], float]) -> str:
    n = len(names)
    grid = [[math.nan] * n for _ in range(n)]
    for (a, b), value in differences.items():
        i, j = names.index(a), names.index(b)
        grid[i][j] = grid[j][i] = value
    side = 2.4 + 0.45 * n
    figure = Figure(figsize=(side + 1.0, side), dpi=100)
    figure.subplots_adjust(left=1.3 / (side + 1.0), right=0.92, bottom=1.3 / side, top=1 - 0.4 / side)
    axes = figure.add_subplot()
    image = axes.imshow(grid, cmap="Reds", vmin=0, vmax=max([0.2, *[v for v in differences.values()]]))
    axes.set_xticks(range(n), [plain(name[:14]) for name in names], rotation=60, ha="right", fontsize=7)
    axes.set_yticks(range(n), [plain(name[:14]) for name in names], fontsize=7)
    axes.set_title("pair-trend difference", fontsize=9, loc="left")
    figure.colorbar(image, ax=axes, shrink=0.7)
    return _svg(figure)


def series_overlays(real: Any, synthetic: Any, names: Sequence[str], per_row: int = 4) -> str:
    """Real series (grey) and synthetic ones (colour) of each feature overlaid, one panel per feature; `real` and
    `synthetic` are (N, T, F) arrays of a few series each, in the user's units."""
    rows = max(1, math.ceil(len(names) / per_row))
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(2.6 * per_row, 2.0 * rows), dpi=100)
        for index, name in enumerate(names):
            axes = figure.add_subplot(rows, per_row, index + 1)
            for i, series in enumerate(real[:, :, index]):
                axes.plot(series, color="#999999", linewidth=0.8, alpha=0.6, label="real" if i == 0 else None)
            for i, series in enumerate(synthetic[:, :, index]):
                axes.plot(series, color=PALETTE[1], linewidth=0.8, alpha=0.6, label="synthetic" if i == 0 else None)
            axes.set_title(plain(name), fontsize=8, loc="left")
            axes.set_xlabel("step", fontsize=7)
            axes.tick_params(labelsize=6)
            if index == 0:
                axes.legend(fontsize=6, frameon=False)
        figure.tight_layout()
        return _svg(figure)


def group_overlays(groups: dict[str, tuple[Any, Any]], feature: str, per_row: int = 4) -> str:
    """One feature's real series (grey) and synthetic ones (colour) overlaid, one panel per group (a value of an
    attribute); `groups` maps each value to its (real, synthetic) (N, T) arrays."""
    rows = max(1, math.ceil(len(groups) / per_row))
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(2.6 * per_row, 2.0 * rows), dpi=100)
        for index, (name, (real, synthetic)) in enumerate(groups.items()):
            axes = figure.add_subplot(rows, per_row, index + 1)
            for i, series in enumerate(real):
                axes.plot(series, color="#999999", linewidth=0.8, alpha=0.6, label="real" if i == 0 else None)
            for i, series in enumerate(synthetic):
                axes.plot(series, color=PALETTE[1], linewidth=0.8, alpha=0.6, label="synthetic" if i == 0 else None)
            axes.set_title(plain(f"{feature}, {name}"), fontsize=8, loc="left")
            axes.set_xlabel("step", fontsize=7)
            axes.tick_params(labelsize=6)
            if index == 0:
                axes.legend(fontsize=6, frameon=False)
        figure.tight_layout()
        return _svg(figure)


def embeddings(panels: dict[str, tuple[Any, Any]]) -> str:
    """Scatter plots of 2-D embeddings of real (grey) and synthetic (colour) samples, one panel each (PCA, t-SNE)."""
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(3.2 * len(panels), 3.0), dpi=100)
        for index, (title, (real, synthetic)) in enumerate(panels.items()):
            axes = figure.add_subplot(1, len(panels), index + 1)
            axes.scatter(real[:, 0], real[:, 1], s=4, color="#999999", alpha=0.5, label="real", linewidths=0)
            axes.scatter(synthetic[:, 0], synthetic[:, 1], s=4, color=PALETTE[1], alpha=0.5, label="synthetic",
                         linewidths=0)
            axes.set_title(plain(title), fontsize=9, loc="left")
            axes.set_xticks([])
            axes.set_yticks([])
            axes.legend(fontsize=6, frameon=False, markerscale=2)
        figure.tight_layout()
        return _svg(figure)
