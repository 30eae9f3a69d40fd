"""Training on several processes with PyTorch's own engine: `torchrun` starts them, `torch.distributed` joins them
and DistributedDataParallel (DDP) averages the gradients of G and D.

What each process (rank) does, and why:
- every rank builds the same networks from `--seed` (DDP also broadcasts rank 0's weights), and takes the same
  optimizer steps on gradients averaged over the ranks, so weights and the generator's EMA stay identical;
- the batch of each rank is `--batch-size` images, a disjoint slice of one global batch of `--batch-size × ranks`
  in the run's data order; the noise is the matching slice of the global batch's noise, so N ranks × batch B take
  the steps one process with batch N·B would (exactly, for networks without batch norm);
- batch norm normalises each rank's own batch (SyncBatchNorm needs NCCL and CUDA); running statistics are averaged
  over the ranks after each step, so every rank holds the same ones;
- everything else random (augmentations, the reconstruction crop) comes from PyTorch's global generator, seeded
  `seed · ranks + rank`, so the ranks augment differently;
- rank 0 alone writes the run folder; checkpoints hold every rank's random state, so a resumed run continues
  exactly (with the same number of ranks);
- a stop (Ctrl-C on any rank) is shared at the next step boundary: every rank stops at the same step and rank 0
  saves it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ganforge.errors import GanforgeError

log = logging.getLogger("ganforge")
T = TypeVar("T")


@dataclass
class Processes:
    """This process's place among the ranks of a run (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes the run folder and shows progress."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether there is more than one process."""
        return self.world > 1

    # ----- collectives (no-ops with one process) -------------------------------------------------------------
    def mean_(self, tensor: Tensor) -> Tensor:
        """Average `tensor` over the ranks, in place."""
        if self.active:
            dist.all_reduce(tensor)
            tensor /= self.world
        return tensor

    def sum_(self, tensor: Tensor) -> Tensor:
        """Sum `tensor` over the ranks, in place."""
        if self.active:
            dist.all_reduce(tensor)
        return tensor

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether `flag` is set on any rank."""
        if not self.active:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def share(self, value: object) -> object:
        """Rank 0's `value` on every rank (sent between this run's own processes only)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, tensor: Tensor, device: torch.device) -> list[Tensor]:
        """`tensor` of every rank (same shape on all), in rank order, on the CPU; sent through `device` (NCCL
        moves only CUDA tensors)."""
        if not self.active:
            return [tensor.cpu()]
        sent = tensor.to(device).contiguous()
        parts = [torch.empty_like(sent) for _ in range(self.world)]
        dist.all_gather(parts, sent)
        return [part.cpu() for part in parts]

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.active:
            dist.barrier()

    def average_buffers(self, module: nn.Module) -> None:
        """Average floating-point buffers (batch-norm running statistics) over the ranks."""
        if not self.active:
            return
        floats = [b for b in module.buffers() if b.is_floating_point()]
        if floats:
            flat = torch.cat([b.reshape(-1) for b in floats])
            self.mean_(flat)
            for buffer, value in zip(floats, flat.split([b.numel() for b in floats]), strict=True):
                buffer.copy_(value.view_as(buffer))

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """`module` in DistributedDataParallel (itself with one process)."""
        if not self.active:
            return module
        ids = [device.index] if device.type == "cuda" else None
        # buffers are averaged after each step instead of broadcast from rank 0 at each forward pass (torch 2.13
        # renames the option; the old name is kept so that torch 2.11 works too)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "`broadcast_buffers` is deprecated", FutureWarning)
            return nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)

    def close(self, finished: bool = True) -> None:
        """Leave the process group; after a `finished` run, once every rank has finished (in gloo, a rank that
        leaves while another is still working can abort that one's exit: "terminate called without an active
        exception"). After a failure there is no waiting: another rank may be gone."""
        if self.active and dist.is_initialized():
            if finished:
                with contextlib.suppress(RuntimeError):
                    dist.barrier()
            dist.destroy_process_group()


SINGLE = Processes()


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher setting the same variables) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_processes() -> int:
    """How many of the run's processes share this machine (torchrun's LOCAL_WORLD_SIZE)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))


def launch(processes: int, argv: list[str]) -> int:
    """`ganforge train --nproc N ...`: run `torchrun --standalone --nproc-per-node N -m ganforge train ...` and
    return its exit status (130 after Ctrl-C, whose stop every process saves).

    torchrun runs in its own session, so Ctrl-C reaches this process alone, which passes one SIGINT to each training
    process: they stop together at a step boundary and exit cleanly, and torchrun ends as after a finished run (a
    signal to torchrun itself would make it tear the processes down and report a failure).
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "-m", "ganforge", *argv]
    log.info("starting %d training processes: torchrun --standalone --nproc-per-node=%d -m ganforge %s",
             processes, processes, " ".join(argv))
    # torchrun would set one thread per process and say so; each process sets its share of the cores itself
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    job = subprocess.Popen(command, env=env, start_new_session=True)
    interrupted = False

    def pass_on(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        workers = _children(job.pid)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        if not workers:  # no /proc to find them by: the whole group, torchrun included
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pid, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, pass_on)
    try:
        status = job.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return 130 if interrupted else status


def _children(pid: int) -> list[int]:
    """The child processes of `pid` (Linux /proc), or none when they cannot be listed."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def run_as_processes(device: torch.device, body: Callable[[Processes], T]) -> T:
    """`body(processes)` as this process's part of the run: the process group joined (one process: SINGLE) and
    left after, at once after a failure (another rank may be gone) or, after success, once every rank is done."""
    processes = join(device)
    try:
        result = body(processes)
    except BaseException:
        processes.close(finished=False)
        raise
    processes.close()
    return result


def join(device: torch.device) -> Processes:
    """Join the process group torchrun describes in the environment (one process: SINGLE).

    The backend is NCCL for CUDA and gloo for the CPU; each rank takes the GPU of its local rank.
    """
    if not launched_by_torchrun():
        return SINGLE
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        # the backend's threads start here: with Ctrl-C and SIGTERM blocked they inherit the block, so those signals
        # reach the main thread alone (in a gloo thread an interrupted system call aborts the process)
        stops = {signal.SIGINT, signal.SIGTERM}
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        try:
            if device.type == "cuda":
                torch.cuda.set_device(local_rank)
            dist.init_process_group(backend, timeout=timedelta(minutes=30))
        except (RuntimeError, ValueError) as error:
            raise GanforgeError(f"could not join the {world} training processes ({backend}): {error}") from error
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    if rank != 0:  # one voice: rank 0 speaks for the run
        log.setLevel(logging.ERROR)
    return Processes(rank, world, local_rank)
