"""Synthetic tables: ganforge's TableGAN against CTGAN, TVAE and a Gaussian copula.

Peers come from the `ctgan`/`sdv`/`sdmetrics` packages, which are BUSL-licensed: install them into a separate
benchmark environment, never into ganforge's own:

    python3.11 -m venv /tmp/benchenv
    /tmp/benchenv/bin/pip install torch==2.13.0 && /tmp/benchenv/bin/pip install torch==2.13.0 sdv sdmetrics statsmodels
    /tmp/benchenv/bin/pip install -e .
    /tmp/benchenv/bin/python bench/tabular.py --tables fair --seeds 3

Protocol (one thread per fit, as the issue's CTGAN measurements): a seeded 80/20 split; each model is fitted on the
80 % and samples as many rows; quality = SDMetrics' QualityReport (train vs synthetic; ganforge's own report is
printed beside it to show they agree); efficacy = HistGradientBoosting trained on synthetic rows, scored on the real
20 % (and trained on real rows for reference); privacy = mean distance to the closest training row, synthetic over real
held-out rows (DCR syn/hold; below 1 = closer to the training rows than new real rows are), and the share of rows
that copy a training row exactly, synthetic / real held-out; fit time is wall-clock seconds. `ganforge-target` is
TableGAN told the efficacy target (`ganforge train --target`), as a user who will train a model of that column would;
the peers have no such option. Fit times compare only within one run on one machine (the header names the CPU).

Tables (all ship inside statsmodels, no download):
- fair: 6,366 marriages; target `had_affair` (affairs > 0, which replaces the `affairs` count).
- randhie: 20,190 RAND health-insurance records; target `mdvis` (number of doctor visits, R²).
- fair-missing: fair with occupations as job names (strings) and 10 % of `educ`, `yrs_married` and `occupation`
  missing completely at random (seeded), to exercise strings and missing values.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd
import torch

from ganforge.tabular import TableGAN
from ganforge.tabular import quality as gq
from ganforge.training.hardware import cpu_has_fast_bf16, cpu_name

OCCUPATIONS = {1: "student", 2: "farming", 3: "white-collar", 4: "teacher", 5: "manager", 6: "professional"}


def load_table(name: str) -> tuple[pd.DataFrame, str]:
    """A benchmark table and its efficacy target."""
    from statsmodels import datasets

    if name in ("fair", "fair-missing"):
        frame = datasets.fair.load_pandas().data
        frame["had_affair"] = np.where(frame.pop("affairs") > 0, "yes", "no")
        for column in ("rate_marriage", "children", "religious", "educ", "occupation", "occupation_husb"):
            frame[column] = frame[column].astype(int)
        if name == "fair-missing":
            rng = np.random.default_rng(1234)
            frame["occupation"] = frame["occupation"].map(OCCUPATIONS).astype(object)
            for column in ("educ", "yrs_married", "occupation"):
                frame.loc[rng.random(len(frame)) < 0.1, column] = np.nan
        return frame, "had_affair"
    if name == "randhie":
        return datasets.randhie.load_pandas().data, "mdvis"
    raise SystemExit(f"unknown table {name}")


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(frame))
    cut = int(0.8 * len(frame))
    return frame.iloc[order[:cut]].reset_index(drop=True), frame.iloc[order[cut:]].reset_index(drop=True)


def sdv_metadata(frame: pd.DataFrame):
    """SDV's own reading of the table's columns, used to fit the peers and to score every model."""
    from sdv.metadata import Metadata

    return Metadata.detect_from_dataframes({"table": frame})


def scoring_kinds(metadata) -> dict[str, str]:
    """SDV's column types in ganforge's words, so both quality reports judge the same columns the same way."""
    columns = metadata.to_dict()["tables"]["table"]["columns"]
    return {name: {"numerical": "continuous", "datetime": "datetime"}.get(meta["sdtype"], "categorical")
            for name, meta in columns.items()}


def fit_and_sample(model: str, train: pd.DataFrame, metadata, seed: int, epochs: int | None, target: str
                   ) -> tuple[pd.DataFrame, float]:
    torch.manual_seed(seed)
    np.random.seed(seed)
    start = time.perf_counter()
    if model.startswith("ganforge"):
        options = {"epochs": epochs} if epochs else {}
        if model == "ganforge-target":  # told which column the efficacy model will predict (--target)
            options["target"] = target
        fitted = TableGAN(seed=seed, **options).fit(train)
        elapsed = time.perf_counter() - start
        return fitted.sample(len(train), seed=seed), elapsed
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    make = {"ctgan": lambda: CTGANSynthesizer(metadata, epochs=epochs or 300),
            "tvae": lambda: TVAESynthesizer(metadata, epochs=epochs or 300),
            "copula": lambda: GaussianCopulaSynthesizer(metadata)}[model]
    synthesizer = make()
    synthesizer.fit({"table": train})
    elapsed = time.perf_counter() - start
    sampled = synthesizer.sample(len(train))
    return (sampled["table"] if isinstance(sampled, dict) else sampled), elapsed


def our_scores(train: pd.DataFrame, test: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str], target: str,
               seed: int) -> dict:
    """ganforge's own measures of synthetic rows: quality report, efficacy on the real held-out rows, privacy."""
    return {"ours": gq.quality_report(train, synthetic, kinds)["quality"],
            "efficacy": gq.efficacy(synthetic, test, kinds, target, seed),
            "privacy": gq.privacy(train, test, synthetic, kinds, seed=seed)}


def sdmetrics_quality(train: pd.DataFrame, synthetic: pd.DataFrame, metadata) -> float:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(train, synthetic, metadata.to_dict()["tables"]["table"], verbose=False)
    return float(report.get_score())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=["fair", "randhie", "fair-missing"])
    parser.add_argument("--models", nargs="+", default=["ganforge", "ganforge-target", "ctgan", "tvae", "copula"],
                        help="ganforge-target is ganforge told the efficacy target column (ganforge train --target)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="override every model's epochs")
    parser.add_argument("--peer-seeds", type=int, help="seeds for CTGAN and TVAE (default: --seeds)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    print(f"torch {torch.__version__}, 1 thread, {cpu_name()} ({'AMX' if cpu_has_fast_bf16() else 'no AMX'}); "
          "mean over seeds (min–max where more than one)")
    print(f"{'table':<13} {'model':<15} {'seeds':>5} {'quality':>15} {'ours':>7} {'efficacy':>17} {'real':>6} "
          f"{'DCR syn/hold':>13} {'copies syn/hold':>15} {'fit s':>9}")
    for table in args.tables:
        frame, target = load_table(table)
        metadata = sdv_metadata(frame)
        kinds = scoring_kinds(metadata)
        for model in args.models:
            if model == "ganforge-target" and kinds[target] != "categorical":
                print(f"{table:<13} {model:<15}  (skipped: --target takes categorical columns; {target} is numeric)")
                continue
            seeds = args.seeds if model not in ("ctgan", "tvae") else (args.peer_seeds or args.seeds)
            rows = []
            for seed in range(seeds):
                train, test = split(frame, seed)
                synthetic, seconds = fit_and_sample(model, train, metadata, seed, args.epochs, target)
                scores = our_scores(train, test, synthetic, kinds, target, seed)
                effect, private = scores["efficacy"], scores["privacy"]
                real = gq.efficacy(train, test, kinds, target, seed)
                rows.append({"quality": sdmetrics_quality(train, synthetic, metadata), "ours": scores["ours"],
                             "efficacy": effect["score"], "metric": effect["metric"], "real": real["score"],
                             "dcr": private["dcr_synthetic_mean"] / max(private["dcr_holdout_mean"], 1e-12),
                             "copies": private["exact_copies"], "holdout_copies": private["holdout_exact_copies"],
                             "seconds": seconds})
            q = [r["quality"] for r in rows]
            e = [r["efficacy"] for r in rows]
            spread = lambda v: f"{statistics.fmean(v):.3f}" + (f" ({min(v):.3f}–{max(v):.3f})" if len(v) > 1 else "")  # noqa: E731
            print(f"{table:<13} {model:<15} {seeds:>5} {spread(q):>15} "
                  f"{statistics.fmean(r['ours'] for r in rows):>7.3f} "
                  f"{rows[0]['metric'] + ' ' + spread(e):>17} {statistics.fmean(r['real'] for r in rows):>6.3f} "
                  f"{statistics.fmean(r['dcr'] for r in rows):>13.2f} "
                  f"{statistics.fmean(r['copies'] for r in rows):>7.1%}/"
                  f"{statistics.fmean(r['holdout_copies'] for r in rows):<7.1%} "
                  f"{statistics.fmean(r['seconds'] for r in rows):>9.1f}", flush=True)


if __name__ == "__main__":
    main()
