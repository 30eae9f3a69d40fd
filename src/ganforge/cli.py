"""The `ganforge` command: train, sample, eval, interpolate, report, datasets.

Bad input ends with one line on stderr naming what is wrong and what was expected, and exit status 2;
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any, NoReturn

from tqdm.auto import tqdm

from ganforge import models
from ganforge.cli_help import TRAIN_HELP
from ganforge.config import TrainConfig, build_config, load_toml
from ganforge.errors import GanforgeError
from ganforge.version import __version__

# The model families' options take their help from their declarations (ganforge.models.option_help); tables are no
# model family, so what a model option means for them is said here.
TABLE_NOTES = {"latent_dim": "tables: 128 unless given"}
# Flags that take no value (and the model options declared bool):
BOOL_OPTIONS = {"tensorboard", "conditional", "diagnose", "spectral_norm", "sequence"}
PAIR_OPTIONS = {"betas_g", "betas_d"}
INTERNAL = {"extra"}
INVOKED_AS = "GANFORGE_INVOKED_AS"  # how the user ran ganforge, for the processes `--nproc` starts


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes end with one line naming the problem, like every other ganforge error. Abbreviations are
    refused: `--step 300` must not quietly mean `--steps 300`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class _TqdmHandler(logging.Handler):
    """Log lines that do not break the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(f"ganforge: {self.format(record)}", file=sys.stderr)


def _metric_names() -> dict[str, str]:
    """The registered metrics, the values that can rank checkpoints and the model families, for help texts."""
    from ganforge.metrics import METRICS, value_directions

    families = ", ".join(f"{name} ({'/'.join(family.kinds)})" for name, family in models.MODELS.items())
    return {"metrics": ", ".join(METRICS), "models": families,
            "rankable": ", ".join(k for k, v in value_directions().items() if v is not None)}


def _train_fields() -> list[Field]:
    """TrainConfig's fields in the order of `ganforge train --help`: the model options after --latent, beside the
    other model flags (TrainConfig appends them after the general ones)."""
    model_options = set(models.option_names())
    general = [spec for spec in fields(TrainConfig) if spec.name not in model_options | INTERNAL]
    at = next(i for i, spec in enumerate(general) if spec.name == "latent") + 1
    return general[:at] + [spec for spec in fields(TrainConfig) if spec.name in model_options] + general[at:]


def _add_train(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a GAN and write a run folder",
                            description="Train a GAN. Flags override values from --config.")
    parser.add_argument("--config", metavar="FILE", help="TOML file of options (flags override it)")
    parser.add_argument("--resume", metavar="RUN", help="continue the run in this folder exactly where it stopped")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--nproc", type=int, default=1, metavar="N",
                        help="train with N processes on this machine (torchrun and DistributedDataParallel: one per "
                             "GPU, or CPU processes sharing the cores); --batch-size is per process")
    for spec in _train_fields():
        flag = "--" + spec.name.replace("_", "-")
        if spec.name in TRAIN_HELP:
            help_text = TRAIN_HELP[spec.name].format(**_metric_names())
        else:  # a model option: read now, so that a family registered after import is described too
            help_text = "; ".join(filter(None, [models.option_help(spec.name), TABLE_NOTES.get(spec.name)]))
        if spec.default not in (None, "", 0) and spec.default is not MISSING and "default" not in help_text:
            shown = " ".join(map(str, spec.default)) if isinstance(spec.default, tuple) else spec.default
            help_text += f" (default: {shown})"
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": help_text}
        if spec.name in BOOL_OPTIONS or (spec.name in models.option_names() and models.option_type(spec.name) is bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif spec.name in PAIR_OPTIONS:
            kwargs.update(nargs=2, metavar=("B1", "B2"))
        else:
            kwargs["metavar"] = spec.name.upper()
        parser.add_argument(flag, **kwargs)


def _add_sample(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sample", help="generate samples from a trained run",
                            description="Generate samples from a run's latest checkpoint.")
    parser.add_argument("run", help="run folder written by `ganforge train`")
    parser.add_argument("--n", type=int, help="number of samples (default 64; with --class all: per class, default 8)")
    parser.add_argument("--out", required=True,
                        help="grid.png (grid or scatter plot), a folder name (PNG files), x.npy, or x.csv (vectors, "
                             "tables; tables also .tsv, .parquet)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--checkpoint", help="a checkpoint of the run: its name (step_000300), its folder, or 'best' "
                                             "(default: the latest)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=256, help="samples generated at once")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--where", metavar="COLUMN=VALUE", action="append",
                        help="tables: every row has this value in this categorical column (e.g. churned=yes), "
                             "one condition; series trained with --static-columns: fix this attribute (e.g. "
                             "ward=ICU or age=70), one or more")
    parser.add_argument("--class", dest="label", metavar="CLASS",
                        help="conditional runs: a class name or index, or all (a grid with one class per row; a "
                             "folder with one subfolder per class)")
    _add_truncation(parser)


def _add_truncation(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--truncation", type=float, metavar="T",
                        help="truncation trick: noise beyond ±T is redrawn (0.5–1: more typical, less varied samples)")
    parser.add_argument("--truncation-mode", choices=["resample", "scale"], default="resample",
                        help="resample (redraw noise beyond ±T, default) or scale (multiply the noise by T)")


def _add_interpolate(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("interpolate", help="walk between two classes or two noise vectors",
                            description="Write a grid whose rows walk between two classes (conditional runs, the "
                                        "class embedding is interpolated at fixed noise) or between two noise "
                                        "vectors (slerp for normal noise).")
    parser.add_argument("run", help="run folder written by `ganforge train`")
    parser.add_argument("--out", required=True, help="grid.png, x.npy or a folder name")
    parser.add_argument("--from", dest="start", metavar="CLASS", help="conditional runs: the class to start from")
    parser.add_argument("--to", dest="end", metavar="CLASS", help="conditional runs: the class to end at")
    parser.add_argument("--from-image", metavar="PHOTO", help="image runs: walk from this photo, projected into "
                                                             "the generator (with --to-image; or, in a conditional "
                                                             "run, with --from ITS_CLASS --to CLASS: its class edited)")
    parser.add_argument("--to-image", metavar="PHOTO", help="image runs: walk to this photo, projected")
    parser.add_argument("--class", dest="label", metavar="CLASS",
                        help="conditional runs without --from/--to: walk between noise vectors within this class")
    parser.add_argument("--frames", type=int, default=10, help="steps along each walk (default 10)")
    parser.add_argument("--rows", type=int, default=4, help="walks, one per row (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--checkpoint", help="a checkpoint of the run (default: the latest)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (projecting photos)")
    _add_truncation(parser)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="measure a run's samples against real data",
                            description="Measure a run's generator against real data; prints a table and writes "
                                        "eval.json in the run folder.")
    parser.add_argument("run", help="run folder written by `ganforge train`")
    parser.add_argument("--real", help="real data to compare with (default: the run's training data); tables: "
                                       "held-out real rows, for efficacy and privacy")
    parser.add_argument("--n", type=int, dest="n_given", metavar="N",
                        help="generated (and at most as many real) samples (default 10,000; tables: as many as the "
                             "real rows)")
    parser.add_argument("--target", help="tables: the column to predict for the efficacy score (needs --real)")
    parser.add_argument("--repeats", type=int, help="time series: how often each score is repeated (default: as "
                                                    "its paper, 10 for TimeGAN's scores and 5 for Diffusion-TS's)")
    parser.add_argument("--metrics", help="comma-separated: {metrics} (l1 to cycle, and fd and kid, measure "
                                          "image-to-image runs; default: what applies)".format(**_metric_names()))
    parser.add_argument("--features", choices=["inception", "digits", "raw"],
                        help="feature space (default: raw for vectors, digits for digit sets, else inception)")
    parser.add_argument("--inception-weights", metavar="PATH", help=TRAIN_HELP["inception_weights"])
    parser.add_argument("--checkpoint", help="a checkpoint of the run: its name (step_000300), its folder, or 'best' "
                                             "(default: the latest)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--seed", type=int, default=0, help="seed for the samples drawn")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_translate(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("translate", help="turn images into the target domain of an image-to-image run",
                            description="Translate an image, or a folder of images, with a run trained with --task; "
                                        "any size, in tiles of the training size with blended seams.")
    parser.add_argument("run", help="run folder written by `ganforge train --task ...`")
    parser.add_argument("input", help="an image file, or a folder of images")
    parser.add_argument("--out", required=True, help="an image file (.png, .jpg, .webp) for one input, a folder for "
                                                     "a folder (PNG files)")
    parser.add_argument("--overlap", type=int, help="pixels neighbouring tiles share (default: a quarter tile)")
    parser.add_argument("--checkpoint", help="best (kept by --eval-every), a checkpoint's name (step_000300) or its "
                                             "folder (default: the newest)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _add_enhance(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("enhance", help="upscale images with a super-resolution run",
                            description="Upscale an image, or a folder of images, with a run trained with --task sr; "
                                        "any size, in tiles whose seams are blended.")
    parser.add_argument("run", help="run folder written by `ganforge train --task sr`")
    parser.add_argument("input", help="an image file, or a folder of images")
    parser.add_argument("--out", required=True, help="an image file (.png, .jpg, .webp) for one input, a folder for "
                                                     "a folder (PNG files)")
    parser.add_argument("--overlap", type=int, help="input pixels neighbouring tiles share (default 96: the tiles "
                                                    "then equal one pass over the whole image)")
    parser.add_argument("--checkpoint", help="best (kept by --eval-every), a checkpoint's name (step_000300) or its "
                                             "folder (default: the newest)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _add_project(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("project", help="find the latents whose images match real photos (to edit them)",
                            description="Invert photos into a trained image generator: the latents whose images are "
                                        "closest to them, with photo | reconstruction strips and each one's PSNR.")
    parser.add_argument("run", help="run folder of an image run")
    parser.add_argument("photos", nargs="+", metavar="PHOTO", help="image files")
    parser.add_argument("--out", required=True, help="latent.npz (a .png of photo | reconstruction is written beside)")
    parser.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random starting latents (default 0)")
    parser.add_argument("--class", dest="label", metavar="CLASS", help="conditional runs: the photos' class")
    parser.add_argument("--checkpoint", help="a checkpoint of the run (default: the latest)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_report(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="write a run's report.html, or compare runs in one page",
                            description="Write RUN/report.html (one self-contained page: settings, curves, "
                                        "diagnoses, every sample grid), or with several runs a comparison.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by `ganforge train`")
    parser.add_argument("--out", help="the .html file to write (default: RUN/report.html; required to compare runs)")


def _report(args: argparse.Namespace) -> int:
    from ganforge.report import build_report

    start = time.perf_counter()
    path = build_report(args.runs, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `ganforge` command."""
    parser = _OneLineParser(prog="ganforge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)
    _add_sample(sub)
    _add_eval(sub)
    _add_interpolate(sub)
    _add_report(sub)
    _add_translate(sub)
    _add_enhance(sub)
    _add_project(sub)
    sub.add_parser("datasets", help="list the built-in datasets")
    return parser


def _train(args: argparse.Namespace) -> int:
    from ganforge.api import train
    from ganforge.training.distributed import launch, launched_by_torchrun

    if args.nproc < 1:
        raise GanforgeError(f"option --nproc must be at least 1, got {args.nproc}")
    given = {k: v for k, v in vars(args).items()
             if k not in {"command", "debug", "config", "resume", "quiet", "nproc", "argv"}}
    if args.nproc > 1 and not launched_by_torchrun():  # refuse what the processes would refuse, before them
        from ganforge.api import check_train

        if args.resume and args.config:
            raise GanforgeError("--config cannot be combined with --resume (the run keeps its own configuration)")
        base = load_toml(args.config) if args.config else None
        kind = check_train(resume=args.resume, config=base, **given)
        if not kind.multi_process:
            raise GanforgeError(f"option --nproc (several processes) applies to image and vector data, not to "
                                f"{kind.name} runs; drop --nproc")
        kind.refuse_processes({**given, "resume": args.resume})
        os.environ[INVOKED_AS] = invoked_as()  # the processes run as `python -m ganforge`: say it as the user did
        return launch(args.nproc, _without_nproc(args.argv))
    if args.resume:
        if args.config:
            raise GanforgeError("--config cannot be combined with --resume (the run keeps its own configuration)")
        result = train(resume=args.resume, progress=not args.quiet, **given)
    else:
        base = load_toml(args.config) if args.config else None
        if base is not None:
            build_config(base, source=args.config)  # unknown keys and bad values, named with the file
        result = train(config=base, progress=not args.quiet, **given)
    from ganforge.kinds import kind_of
    from ganforge.training.run_folder import RunFolder

    if int(os.environ.get("RANK", "0")) == 0:  # one of several processes: rank 0 speaks for the run
        print("\n".join(kind_of(RunFolder(result.run_dir)).report(result, invoked_as())))
    if launched_by_torchrun():  # torchrun takes any other status for a crash; `--nproc` says 130 itself
        return 0
    return 130 if result.interrupted else 0  # 130: the shell's convention for a run stopped by Ctrl-C


def invoked_as(program: str | None = None) -> str:
    """The command the user ran ganforge by, for the commands it suggests: `ganforge` when that name on PATH is this
    program, else the path typed (`.venv/bin/ganforge` after `make demo`), or `python -m ganforge`."""
    if program is None and os.environ.get(INVOKED_AS):  # one of the processes of `--nproc N`
        return os.environ[INVOKED_AS]
    program = sys.argv[0] if program is None else program
    path = Path(program)
    if path.name == "__main__.py" and path.parent.name == "ganforge":
        return f"{_as_typed(Path(sys.executable))} -m ganforge"
    if path.name != "ganforge":  # called from Python (tests, notebooks): the plain name
        return "ganforge"
    on_path = shutil.which("ganforge")
    if path.is_absolute() and on_path is not None and Path(on_path).resolve() == path.resolve():
        return "ganforge"  # the shell found it on PATH: the user typed `ganforge`
    return _as_typed(path)


def _as_typed(path: Path) -> str:
    """A program's path as short as it can be typed from here: relative below the working folder."""
    return str(path.relative_to(Path.cwd()) if path.is_absolute() and path.is_relative_to(Path.cwd()) else path)


def _without_nproc(argv: list[str]) -> list[str]:
    """The command line again, less its --nproc option (each process is one of them)."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            kept.append(item)
    return kept


def _on_run(command: str) -> Any:
    """The handler of `command` for the kind of the run named on the command line."""

    def handle(args: argparse.Namespace) -> int:
        from ganforge.kinds import kind_of
        from ganforge.training.run_folder import RunFolder

        if getattr(args, "batch_size", 1) < 1:
            raise GanforgeError(f"option --batch-size must be at least 1, got {args.batch_size}")
        return getattr(kind_of(RunFolder.open(args.run)), command)(args)

    return handle


def _datasets(args: argparse.Namespace) -> int:
    from ganforge.data import BUILTIN

    width = max(map(len, BUILTIN))
    for name, entry in BUILTIN.items():
        print(f"{name:<{width}}  {entry.kind:<6}  {entry.description}")
    print("\nAlso --data PATH for your own data: a folder of images (png, jpg, bmp, gif, webp, tiff, pgm/ppm), an "
          ".npy/.npz array file, or a table (.csv, .tsv, .parquet) for a tabular GAN.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ganforge` command; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(argv)
    args.argv = argv
    if unknown:  # reported by the command's own parser, so the hint points at `ganforge train --help`
        commands_parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands_parser.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    handler = _TqdmHandler()
    logging.getLogger("ganforge").handlers[:] = [handler]
    logging.getLogger("ganforge").setLevel(logging.INFO)
    commands = {"train": _train, "sample": _on_run("sample"), "eval": _on_run("evaluate"),
                "interpolate": _on_run("interpolate"), "translate": _on_run("translate"), "project": _on_run("project"),
                "enhance": _on_run("enhance"),
                "report": _report,
                "datasets": _datasets}
    try:
        return commands[args.command](args)
    except GanforgeError as error:
        if args.debug:
            raise
        print(f"ganforge: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganforge: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
