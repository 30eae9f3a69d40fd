"""What one kind of data gives the shared training loop (`training.loop`): its networks, its step, its samples.

The loop knows steps, logging, health, rollback, checkpoints, Ctrl-C and evaluation; a task knows how to take one
training step on its data and what must be saved to take the next one exactly. Images and vectors
(`training.trainer.SampleTask`) and tables (`tabular.task.TableTask`) are two tasks; a new kind of data is one more.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ganforge.training.distributed import SINGLE


class Task:
    """The per-kind half of training. Subclasses set the attributes below and implement `train_step`."""

    #: run kind recorded in checkpoints (`tensor`, `table`)
    kind = ""
    #: names of the statistics `train_step` returns, in order; d_loss, g_loss, d_real and d_fake are required
    stat_names: tuple[str, ...] = ("d_loss", "g_loss", "d_real", "d_fake")
    #: statistics shown beside the progress bar: (name, label, format)
    shown_stats: tuple[tuple[str, str, str], ...] = (("d_loss", "D", ".3f"), ("g_loss", "G", ".3f"),
                                                     ("d_real", "D(x)", ".2f"), ("d_fake", "D(G(z))", ".2f"))
    device = torch.device("cpu")
    batch_size = 1
    processes = SINGLE  # this process's place in a multi-process run (training.distributed)

    def __init__(self) -> None:
        self.grad_norms: tuple[float, float] = (math.nan, math.nan)  # (G, D), set by a measuring step

    # ----- what a checkpoint holds -----------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """The networks, by checkpoint name."""
        raise NotImplementedError

    def trained_modules(self) -> list[nn.Module]:
        """The networks whose weights must stay finite (not their averages)."""
        return list(self.modules().values())

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers, by checkpoint name."""
        raise NotImplementedError

    def generators(self) -> dict[str, torch.Generator]:
        """Random generators besides PyTorch's global one, by name (saved as `rng.NAME`)."""
        return {}

    def tensors(self) -> dict[str, Tensor]:
        """Other tensors a resumed run needs (e.g. the fixed noise of the sample grids)."""
        return {}

    def load_tensors(self, tensors: dict[str, Tensor]) -> None:
        """Take back what `tensors` gave (from all of a checkpoint's training tensors)."""

    def state_dict(self) -> dict[str, Any]:
        """Plain-JSON state of the task (counters)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what `state_dict` gave."""

    other_data = "other data"  # how a refused resume names data that differs
    resumable = "--steps"  # what may change when resuming, as a refused resume names it

    def identity(self) -> dict[str, Any]:
        """What a checkpoint must share with the run that resumes it: `options` (those that cannot change when
        resuming) and a `data` fingerprint, as plain JSON."""
        return {}

    # ----- training --------------------------------------------------------------------------------------------
    def start(self, step: int) -> None:
        """(Re)open the data stream at `step` (at the start, after a resume, after a rollback)."""

    def train_step(self, step: int, measure: bool) -> Tensor:
        """One training step at `step`; detached statistics in the order of `stat_names`. With `measure`, also set
        `grad_norms`."""
        raise NotImplementedError

    def log_fields(self, step: int) -> dict[str, Any]:
        """Extra fields of the log line at `step` (tables: the epoch)."""
        return {}

    def lr_factor(self, step: int) -> float:
        """The task's own multiplier of every learning rate at `step` (a phase that trains at another rate)."""
        return 1.0

    def augments(self) -> bool:
        """Whether what the discriminator sees is augmented now (the health monitor's overfitting rule asks)."""
        return False

    # ----- health, samples, evaluation ------------------------------------------------------------------------
    def fixed_samples(self) -> Tensor | None:
        """The generator's samples at fixed inputs, flattened (N, D) in model space, for the health monitor;
        None when the task has none."""
        return None

    def real_samples(self, n: int) -> Tensor:
        """`n` real samples flattened in model space (the spread the fixed samples are compared with)."""
        raise NotImplementedError

    def more_health(self, fake: Tensor) -> dict[str, Any]:
        """Kind-specific health measures of the fixed samples (mode reach, per-class spread)."""
        return {}

    def preview(self, step: int) -> None:
        """Write what a user looks at to follow the run (a sample grid)."""

    def finish(self, step: int) -> None:
        """The loop has stopped at `step` (finished or interrupted): write what a user looks at last."""

    best_metric: str | None = None  # the evaluated value that ranks checkpoints, when the task evaluates

    def evaluate(self, step: int) -> dict[str, Any]:
        """Metrics of the current generator (only called when the run evaluates while training)."""
        return {}


def grad_norm(module: nn.Module) -> float:
    """The norm of all of a module's gradients together (0 when it has none)."""
    norms = [p.grad.detach().float().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(norms).norm()) if norms else 0.0
