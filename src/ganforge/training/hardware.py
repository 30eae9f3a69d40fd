"""Device, thread count and numeric precision, chosen once per run."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

from ganforge.errors import GanforgeError

log = logging.getLogger("ganforge")


def available_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def pick_device(name: str) -> torch.device:
    """`auto` → CUDA when present, else CPU; `cuda` without a GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("option --device cuda was given but PyTorch sees no CUDA GPU; use --device cpu")
    return torch.device(name)


def set_threads(requested: int, device: torch.device, loader_workers: int = 0, small_model: bool = False) -> int:
    """Set PyTorch's intra-op threads: as asked, else one per core left after the data-loading workers, or one for
    a `small_model` (whose matrices are too small to share between threads).

    More threads than cores makes them fight for the cores; on a 2-core machine that cost a peer 15×.
    """
    if requested > 0:
        threads = requested
        if threads > available_cores():
            log.warning("--threads %d is more than the %d cores available: the threads will wait for each other "
                        "(on 2 cores, 4 threads made a DCGAN step 47x slower; see bench/RESULTS.md)",
                        threads, available_cores())
    elif device.type == "cuda":
        threads = min(4, available_cores())  # the GPU does the work; a few threads feed it
    elif small_model:
        threads = 1
    else:
        threads = max(1, available_cores() - loader_workers)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def cpu_name() -> str:
    """The CPU model as the kernel reports it (figures are only comparable on the same one)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def cpu_has_fast_bf16() -> bool:
    """True when this CPU has AMX tiles, where bf16 matrix work is much faster than fp32."""
    with contextlib.suppress(Exception):
        return bool(torch._C._cpu._init_amx())
    return False


def pick_precision(name: str, device: torch.device) -> str:
    """`auto` → bf16 autocast where the hardware runs it fast (CUDA with bf16, CPUs with AMX), else fp32."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def autocast_factory(precision: str, device: torch.device) -> Callable[[], AbstractContextManager]:
    """A callable giving the autocast context for forward passes (a no-op context for fp32)."""
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext
