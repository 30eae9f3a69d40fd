"""Tables as a run kind (`ganforge.kinds`): `ganforge train --data table.csv` and the `sample`, `eval` and
`interpolate` commands on a table run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ganforge.config import TrainConfig
from ganforge.errors import GanforgeError
from ganforge.kinds import RunKind
from ganforge.tabular import run as table_run
from ganforge.tabular.schema import TABLE_SUFFIXES
from ganforge.training.loop import TrainResult
from ganforge.training.run_folder import RunFolder


class TableRuns(RunKind):
    """Runs on one table (.csv, .tsv, .parquet) with mixed column types."""

    name = "table"

    def claims(self, data: str) -> bool:
        return Path(data).suffix.lower() in TABLE_SUFFIXES

    def train(self, config: TrainConfig, given: set[str], progress: bool) -> TrainResult:
        _one_process()
        return table_run.train_table(config, progress=progress, given=given)

    def resume(self, run: RunFolder, overrides: dict[str, Any], progress: bool) -> TrainResult:
        _one_process()
        return table_run.resume_table(run, overrides, progress=progress)

    def report(self, result: TrainResult) -> list[str]:
        run = result.run_dir
        if result.interrupted:
            return [f"interrupted after epoch {result.step}; checkpoint saved. Continue with: ganforge train --resume "
                    f"{run}"]
        return [f"fitted {result.step} epoch{'' if result.step == 1 else 's'}. Run folder: {run}",
                f"  report:    {run / 'report.html'}", f"  preview:   {run / 'samples' / 'preview.csv'}",
                f"  metrics:   {run / 'metrics.jsonl'}",
                f"  more rows: ganforge sample {run} --n 1000 --out synthetic.csv", f"  measure:   ganforge eval {run}"]

    def sample(self, args: argparse.Namespace) -> int:
        training_table = RunFolder.open(args.run).read_config()["config"]["data"]
        if Path(args.out).resolve() == Path(training_table).resolve():  # checked before the work, not after
            raise GanforgeError(f"--out {args.out} is the table this run was trained on; choose another file name")
        if args.checkpoint:
            raise GanforgeError("--checkpoint applies to image and vector runs; a table run samples its finished "
                                "model (train it longer with --resume RUN --epochs N)")
        if args.label is not None or args.truncation is not None:
            raise GanforgeError("--class and --truncation apply to image and vector runs; a table run conditions "
                                "with --where COLUMN=VALUE")
        if args.where and len(args.where) > 1:
            raise GanforgeError(f"--where takes one column=value condition, got {len(args.where)}: "
                                f"{', '.join(args.where)}")
        model = table_run.load_table_run(args.run)
        where = table_run.parse_where(args.where[0] if args.where else None)
        rows = model.sample(64 if args.n is None else args.n, where=where, seed=args.seed, progress=not args.quiet)
        path = table_run.write_table(rows, args.out)
        print(f"wrote {len(rows)} rows × {rows.shape[1]} columns to {path}")
        return 0

    def evaluate(self, args: argparse.Namespace) -> int:
        image_only = [flag for flag, value in (("--checkpoint", args.checkpoint), ("--metrics", args.metrics),
                                               ("--features", args.features),
                                               ("--inception-weights", args.inception_weights)) if value]
        if image_only:
            raise GanforgeError(f"{', '.join(image_only)} appl{'y' if len(image_only) > 1 else 'ies'} to image and "
                                "vector runs; a table run is measured by quality, efficacy (--target) and privacy")
        report = table_run.evaluate_table(args.run, holdout=args.real, target=args.target, n=args.n_given,
                                          seed=args.seed)
        _print_table_report(args.run, report)
        return 0

    def interpolate(self, args: argparse.Namespace) -> int:
        raise GanforgeError("interpolate applies to image and vector runs; a table run samples rows with "
                            "`ganforge sample RUN --where COLUMN=VALUE`")


def _print_table_report(run: str, report: dict[str, Any]) -> None:
    """The table run's evaluation as `ganforge eval` prints it."""
    print(f"{run}: {report['rows_synthetic']} synthetic rows vs {report['rows_real']} training rows")
    pairs = f"{report['column_pair_trends']:.4f}" if report["pairs_counted"] else "n/a: no associated column pairs"
    print(f"  quality            {report['quality']:.4f}  (column shapes {report['column_shapes']:.4f}, "
          f"pair trends {pairs})")
    print(f"  training copies    {report['training_copies']:.2%} of synthetic rows equal a training row")
    worst = sorted(report["shapes_by_column"].items(), key=lambda item: item[1])[:3]
    print("  weakest columns    " + ", ".join(f"{name} {score:.3f}" for name, score in worst))
    if "privacy" in report:
        p = report["privacy"]
        print(f"  privacy            mean distance to closest training row {p['dcr_synthetic_mean']:.4f} "
              f"(real holdout rows: {p['dcr_holdout_mean']:.4f}); exact copies {p['exact_copies']:.2%} "
              f"(real holdout rows: {p['holdout_exact_copies']:.2%})")
    if "efficacy" in report:
        e = report["efficacy"]
        print(f"  efficacy ({e['real']['metric']} on holdout, target {e['real']['target']}): trained on synthetic "
              f"{e['synthetic']['score']:.4f}, on real {e['real']['score']:.4f}")
    print(f"written to {run}/eval.json")


def _one_process() -> None:
    """Tables train in one process (their networks are small): several processes under torchrun are refused."""
    from ganforge.training.distributed import launched_by_torchrun

    if launched_by_torchrun():
        raise GanforgeError("option --nproc (several processes) applies to image and vector data; tables train in "
                            "one process")
