"""Checkpoints as tensors (safetensors) and plain JSON, never pickle: loading a stranger's checkpoint runs no code.

Layout of `checkpoints/step_NNNNNN/`: `models.safetensors` (weights and buffers), `training.safetensors`
(optimizer moments, RNG states, fixed noise, partial metric sums) and `state.json` (step, optimizer
hyper-parameters, the names of everything). A checkpoint is written into a hidden temporary folder, flushed to disk,
then renamed into place, and only then does `latest.json` point at it, so a crash at any moment leaves the last good
checkpoint loadable.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import Tensor

from ganforge.errors import GanforgeError

FORMAT = "ganforge-checkpoint/1"
MODELS_FILE = "models.safetensors"
TRAINING_FILE = "training.safetensors"
STATE_FILE = "state.json"
CHECKPOINT_FILES = {MODELS_FILE, TRAINING_FILE, STATE_FILE}
LATEST = "latest.json"


def step_name(step: int) -> str:
    """Folder name of the checkpoint at `step`."""
    return f"step_{step:06d}"


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened for syncing
        handle = os.open(path, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def atomic_write_text(path: Path, text: str) -> None:
    """Write text through a temporary file in the same folder, flushed, then renamed over `path`."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with temp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    _fsync_dir(path.parent)


def write_safetensors(tensors: dict[str, Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file through Python's file I/O, flushed to disk: a full disk then raises OSError with its
    errno (safetensors' own writer reports it as a generic SafetensorError)."""
    try:
        with path.open("wb") as handle:
            handle.write(save(tensors, metadata=metadata))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        if error.filename is None:  # a failed write() names no file; the message should
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise


def plain_json(data: Any) -> Any:
    """`data` with NaN and infinities replaced by None, so that every JSON reader (not only Python's) accepts it."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: plain_json(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [plain_json(value) for value in data]
    return data


def atomic_save_array(path: Path, array: Any) -> None:
    """Write a numpy array as `.npy` through a temporary file in the same folder, then rename it over `path`."""
    import numpy as np

    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with temp.open("wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    _fsync_dir(path.parent)


def write_json(path: Path, data: Any) -> None:
    """Atomic, human-readable, standard JSON (non-finite numbers written as null)."""
    atomic_write_text(path, json.dumps(plain_json(data), indent=2, sort_keys=False, allow_nan=False) + "\n")


def module_tensors(modules: dict[str, torch.nn.Module]) -> dict[str, Tensor]:
    """Parameters and buffers of named modules, keyed `name.param`, contiguous and on the CPU."""
    tensors = {}
    for prefix, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{prefix}.{key}"] = value.detach().cpu().contiguous()
    return tensors


def load_module_tensors(modules: dict[str, torch.nn.Module], tensors: dict[str, Tensor], source: Path) -> None:
    """Load `module_tensors` output back, failing with a clear message when names or shapes disagree."""
    for prefix, module in modules.items():
        own = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        try:
            module.load_state_dict(own, strict=True)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise GanforgeError(f"checkpoint {source} does not match the {prefix} model: {first}") from None


def optimizer_to_tensors(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, Tensor], dict]:
    """Split an optimizer's state into tensors (moments, step counts) and JSON (hyper-parameters)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, prefix: str, tensors: dict[str, Tensor],
                           meta: dict) -> None:
    """Inverse of `optimizer_to_tensors`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for name, value in meta.get("scalars", {}).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(folder: Path, step: int, tensors: dict[str, Tensor], training: dict[str, Tensor],
                    state: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint for `step` atomically, point `latest.json` at it, and keep the newest `keep`."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / step_name(step)
    temp = folder / f".partial-{step_name(step)}-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    try:
        write_safetensors(tensors, temp / MODELS_FILE, metadata={"format": FORMAT})
        write_safetensors(training, temp / TRAINING_FILE, metadata={"format": FORMAT})
        (temp / STATE_FILE).write_text(json.dumps({"format": FORMAT, **state}, indent=2) + "\n", encoding="utf-8")
        _fsync_file(temp / STATE_FILE)
        if final.exists():  # an earlier attempt at the same step (e.g. Ctrl-C right after a scheduled save)
            shutil.rmtree(final)
        os.replace(temp, final)
        _fsync_dir(folder)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    write_json(folder / LATEST, {"step": step, "folder": final.name})
    _prune(folder, keep)
    return final


def keep_as_best(source: Path, info: dict[str, Any]) -> Path:
    """Copy the checkpoint `source` to `checkpoints/best` (atomically: copy, then rename) and record why."""
    folder = source.parent
    best, temp, old = folder / "best", folder / f".partial-best-{os.getpid()}", folder / f".old-best-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    shutil.copytree(source, temp)
    for name in CHECKPOINT_FILES:
        _fsync_file(temp / name)
    if best.exists():
        os.replace(best, old)
    os.replace(temp, best)
    shutil.rmtree(old, ignore_errors=True)
    write_json(folder / "best.json", {**info, "from": source.name})
    return best


def remove_partial_writes(folder: Path) -> None:
    """Remove temporary checkpoint folders left by a process that was killed mid-write (call with the run locked)."""
    if folder.is_dir():
        for leftover in folder.glob(".partial-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _step_number(path: Path) -> int:
    """The step of a `step_NNNNNN` folder (sorted as numbers: past 999,999 the names grow a digit)."""
    digits = path.name.removeprefix("step_")
    return int(digits) if digits.isdigit() else -1


def _prune(folder: Path, keep: int) -> None:
    done = sorted((p for p in folder.glob("step_*") if p.is_dir()), key=_step_number)
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _refuse_foreign_files(path: Path) -> None:
    extra = sorted(p.name for p in path.iterdir() if p.name not in CHECKPOINT_FILES)
    if extra:
        raise GanforgeError(
            f"checkpoint {path} contains {extra[0]!r}, which is not a ganforge checkpoint file; ganforge loads only "
            f"{', '.join(sorted(CHECKPOINT_FILES))} and refuses anything else (a pickle could run code)"
        )


def _is_complete(path: Path) -> bool:
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return state.get("format") == FORMAT and all((path / name).is_file() for name in CHECKPOINT_FILES)


def find_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run: the one `latest.json` names, else the newest whole folder."""
    return find_checkpoint_in(run_dir / "checkpoints")


def find_checkpoint_in(folder: Path) -> Path | None:
    """The newest complete checkpoint in a checkpoints folder (see `find_checkpoint`)."""
    if not folder.is_dir():
        return None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        named = folder / json.loads((folder / LATEST).read_text(encoding="utf-8"))["folder"]
        if named.is_dir() and _is_complete(named):
            return named
    for candidate in sorted((p for p in folder.glob("step_*") if p.is_dir()), key=_step_number, reverse=True):
        if _is_complete(candidate):
            return candidate
    return None


def read_checkpoint_state(path: Path) -> dict[str, Any]:
    """Only the JSON state of a checkpoint (cheap: no tensors read)."""
    if not path.is_dir() or not _is_complete(path):
        raise GanforgeError(f"checkpoint {path} is incomplete or not a ganforge checkpoint")
    return json.loads((path / STATE_FILE).read_text(encoding="utf-8"))


def load_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Any]]:
    """Read (model tensors, training tensors, state) from a checkpoint folder, refusing anything but
    safetensors and JSON."""
    if not path.is_dir():
        raise GanforgeError(f"checkpoint {path} is not a folder")
    _refuse_foreign_files(path)
    if not _is_complete(path):
        raise GanforgeError(f"checkpoint {path} is incomplete or not a ganforge checkpoint")
    try:
        models = load_file(str(path / MODELS_FILE))
        training = load_file(str(path / TRAINING_FILE))
    except (SafetensorError, OSError, ValueError) as error:
        raise GanforgeError(f"checkpoint {path} holds a file that is not valid safetensors: {error}") from None
    state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    return models, training, state


def check_identity(source: Path | tuple, state: dict[str, Any], kind: str, identity: dict[str, Any],
                   other_data: str = "other data", resumable: str = "--steps") -> None:
    """The one resume check: a checkpoint continues only a run of its own `kind`, options and data (`identity`,
    see `Task.identity`); `other_data` and `resumable` word the refusal."""
    where = source if isinstance(source, Path) else "in memory"
    made = state.get("kind", "tensor")  # image and vector checkpoints before the shared loop named no kind
    if made != kind:
        raise GanforgeError(f"checkpoint {where} is a {made} run's; it cannot continue a {kind} run")
    saved, own = state.get("identity"), plain_json(identity)
    if saved is None:  # made before checkpoints recorded it: the caller checked options and data
        return
    if saved.get("data") != own.get("data"):
        raise GanforgeError(f"checkpoint {where} was made on {other_data}; resume with the data it was trained on")
    options, asked = saved.get("options", {}), own.get("options", {})
    changed = sorted(key for key in set(options) | set(asked) if options.get(key) != asked.get(key))
    if changed:
        raise GanforgeError(f"checkpoint {where} was made with other options ({', '.join(changed)}); only "
                            f"{resumable} may change when resuming")
