"""What every run kind is: the `RunKind` interface that `api` and `cli` call, and the one check of options given
when resuming."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from ganforge.config import TrainConfig
from ganforge.errors import GanforgeError
from ganforge.training.loop import TrainResult
from ganforge.training.run_folder import RunFolder


class RunKind:
    """One kind of run. Subclasses implement every method; a command a kind does not support raises a
    one-line `GanforgeError` saying what to use instead."""

    name = ""
    multi_process = False  # whether it trains as several processes under torchrun (`--nproc`)

    def refuse_processes(self, options: dict[str, Any]) -> None:
        """Refuse in one line, before any process starts, a multi-process run that these `train` options (with
        `resume`: the run folder) cannot make. Kinds that train under torchrun refine it."""

    def claims(self, data: str, options: dict[str, Any]) -> bool:
        """Whether `--data` with these `options` (a TrainConfig's JSON form) is data of this kind (the first kind
        that claims it trains it)."""
        raise NotImplementedError

    def train(self, config: TrainConfig, given: set[str], progress: bool) -> TrainResult:
        """Train a new run; `given` names the options the user set."""
        raise NotImplementedError

    def resume(self, run: RunFolder, overrides: dict[str, Any], progress: bool) -> TrainResult:
        """Continue `run` from its newest checkpoint with the allowed `overrides`."""
        raise NotImplementedError

    def check_resume(self, run: RunFolder, overrides: dict[str, Any]) -> None:
        """Refuse `overrides` that `resume` would refuse, without training (before starting processes)."""

    def report(self, result: TrainResult, command: str = "ganforge") -> list[str]:
        """The lines `ganforge train` prints when a run finished or was interrupted; the commands they suggest start
        with `command`, as the user ran ganforge."""
        raise NotImplementedError

    def sample(self, args: argparse.Namespace) -> int:
        """`ganforge sample RUN ...`."""
        raise NotImplementedError

    def evaluate(self, args: argparse.Namespace) -> int:
        """`ganforge eval RUN ...`."""
        raise NotImplementedError

    def interpolate(self, args: argparse.Namespace) -> int:
        """`ganforge interpolate RUN ...`."""
        raise NotImplementedError

    def project(self, args: argparse.Namespace) -> int:
        """`ganforge project RUN PHOTO... --out latent.npz` (image runs)."""
        raise GanforgeError(f"project applies to image runs trained from noise; {args.run} is a {self.name} run")

    def translate(self, args: argparse.Namespace) -> int:
        """`ganforge translate RUN INPUT --out OUTPUT` (image-to-image runs)."""
        raise GanforgeError(f"translate applies to image-to-image runs (trained with --task); {args.run} is a "
                            f"{self.name} run")

    def enhance(self, args: argparse.Namespace) -> int:
        """`ganforge enhance RUN INPUT --out OUTPUT` (super-resolution runs)."""
        raise GanforgeError(f"enhance applies to super-resolution runs (trained with --task sr); {args.run} is a "
                            f"{self.name} run")


def refuse_changes(run: RunFolder, overrides: dict[str, Any], resumable: Collection[str],
                   stored: Callable[[str], Any], asked: Callable[[str, Any], Any], instead: str) -> None:
    """The one check of options given when resuming, for every kind: a resumed run stays in its folder, and an
    option outside `resumable` must equal its stored value (`stored(key)`, compared with `asked(key, value)`)."""
    for key, value in overrides.items():
        key = key.replace("-", "_")
        if key == "out":
            check_own_folder(run, value)
            continue
        if key in resumable:
            continue
        wanted = asked(key, value)  # first: an unknown option is refused by name here
        old = stored(key)
        if wanted != old:
            was = f" (it was {old!r})" if old is not None else ""
            raise GanforgeError(f"option --{key.replace('_', '-')} cannot change when resuming {run.path}{was}; "
                                f"{instead}")


def check_own_folder(run: RunFolder, out: str | Path | None) -> None:
    """A resumed run continues in its own folder: an `--out` elsewhere is refused."""
    if out is not None and Path(out).resolve() != run.path.resolve():
        raise GanforgeError(f"--out {out} differs from the run being resumed ({run.path}); a resumed run continues "
                            "in its own folder (drop --out, or start a new run without --resume)")


def start_record(kind: str, config: TrainConfig, given: set[str] | None) -> dict[str, Any]:
    """What a new run is started with (`training.run_folder.START_FILE`): enough to start it again if it is killed
    before it writes `config.json`."""
    return {"kind": kind, "options": config.to_json(), "given": None if given is None else sorted(given)}
