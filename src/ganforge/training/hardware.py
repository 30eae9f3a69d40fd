"""Device, thread count and numeric precision, chosen once per run."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import time
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


def set_threads(requested: int, device: torch.device, loader_workers: int = 0, sharers: int = 1) -> int:
    """Set PyTorch's intra-op threads: as asked, else one per core left after the data-loading workers, divided
    among `sharers` processes of one multi-process run on this machine.

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
    else:
        threads = max(1, (available_cores() - loader_workers) // max(1, sharers))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


class CoreShare:
    """How many threads this process should use while other processes compete for the cores.

    OpenMP threads spin while they wait for each other; beside another busy process that spinning holds the cores it
    needs, and two runs that each took every core were 30-150x slower per step. Every `interval` seconds this
    compares the machine's busy time (/proc/stat, without steal) with this process's own CPU time: the rest is other
    processes (this run's data-loading workers included). When they keep at least `threshold` of a core busy for
    `patience` checks in a row, the run gives those cores up; when they stop, it takes them back.
    """

    def __init__(self, cores: int, interval: float = 1.0, threshold: float = 0.75, patience: int = 2):
        self.cores, self.interval, self.threshold, self.patience = cores, interval, threshold, patience
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._sample()
        self._proposal, self._votes = 0, 0

    def _sample(self) -> tuple[float, float, float] | None:
        """(wall seconds, the machine's busy CPU seconds, this process's CPU seconds), or None off Linux."""
        try:
            with open("/proc/stat") as handle:
                fields = [int(value) for value in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        user, nice, system, _idle, _iowait, irq, softirq = (fields + [0] * 7)[:7]
        busy = (user + nice + system + irq + softirq) / self._ticks
        return time.monotonic(), busy, time.process_time()

    def others(self) -> float | None:
        """Cores kept busy by other processes since the last call (None until `interval` has passed)."""
        if self._last is None or time.monotonic() - self._last[0] < self.interval:
            return None  # cheap: /proc/stat is read once per interval, not once per step
        now = self._sample()
        if now is None:
            return None
        (wall0, busy0, own0), (wall1, busy1, own1) = self._last, now
        self._last = now
        return max(0.0, (busy1 - busy0) - (own1 - own0)) / (wall1 - wall0)

    def threads(self, current: int) -> int:
        """The thread count to use from now on (`current` while nothing has changed for long enough)."""
        others = self.others()
        if others is None:
            return current
        wanted = max(1, self.cores - int(others + 1 - self.threshold))
        if wanted == current:
            self._votes = 0
            return current
        self._votes = self._votes + 1 if wanted == self._proposal else 1
        self._proposal = wanted
        return wanted if self._votes >= self.patience else current


def cpu_name() -> str:
    """The CPU model as the kernel reports it (figures are only comparable on the same one)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


# `GANFORGE_ASSUME_AMX=1` makes `--precision auto` on a CPU choose what it chooses on a CPU with AMX (bf16), and
# `=0` what it chooses without (fp32), whatever this CPU has: the test suite runs both paths on any x86 CPU.
AMX_SWITCH = "GANFORGE_ASSUME_AMX"


def cpu_has_fast_bf16() -> bool:
    """True when this CPU has AMX tiles, where bf16 matrix work is much faster than fp32."""
    with contextlib.suppress(Exception):
        return bool(torch._C._cpu._init_amx())
    return False


def assumed_amx() -> bool | None:
    """What `GANFORGE_ASSUME_AMX` says of AMX (True, False), or None when it is unset."""
    value = os.environ.get(AMX_SWITCH, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise GanforgeError(f"environment variable {AMX_SWITCH}={value!r} must be 1 (act as on a CPU with AMX: "
                        "--precision auto is bf16) or 0 (as without: fp32), or unset")


def pick_precision(name: str, device: torch.device) -> str:
    """`auto` → bf16 autocast where the hardware runs it fast (CUDA with bf16, CPUs with AMX), else fp32.

    On a CPU, `GANFORGE_ASSUME_AMX` overrides the detection of AMX (see `AMX_SWITCH`)."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    amx = assumed_amx()
    return "bf16" if (cpu_has_fast_bf16() if amx is None else amx) else "fp32"


def autocast_factory(precision: str, device: torch.device) -> Callable[[], AbstractContextManager]:
    """A callable giving the autocast context for forward passes (a no-op context for fp32)."""
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext
