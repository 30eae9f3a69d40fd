"""The one training loop, for every kind of data: steps, logging, health, rollback, checkpoints, Ctrl-C, evaluation.

A `Task` (see `training.task`) takes each step and names what a checkpoint must hold; this loop does the rest, the
same way for images, vectors and tables. Everything random is drawn from generators whose state is checkpointed,
so a resumed run continues bit for bit as if it had never stopped.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ganforge.diagnostics import Event, Finding, HealthMonitor, Observation
from ganforge.diagnostics.classes import CLASS_HEALTH
from ganforge.diagnostics.samples import SampleHealth
from ganforge.diagnostics.sequences import SEQUENCE_HEALTH
from ganforge.errors import GanforgeError
from ganforge.metrics.base import better_direction
from ganforge.training import checkpoint as ckpt
from ganforge.training.hardware import CoreShare
from ganforge.training.interrupt import StopOnInterrupt
from ganforge.training.pace import Pace
from ganforge.training.task import Task

log = logging.getLogger("ganforge")
MAX_ROLLBACKS = 3
LEGACY_OPTIMIZER_NAMES = {"opt_g": "generator", "opt_d": "discriminator"}  # image checkpoints before the shared loop


@dataclass
class TrainResult:
    """What a finished (or interrupted) run leaves: where it is, how far it got, its last logged metrics."""

    run_dir: Path
    step: int
    interrupted: bool = False
    last_metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoopSettings:
    """How long to train and how often to log, look, save and evaluate."""

    steps: int
    log_every: int
    sample_every: int
    checkpoint_every: int
    keep_checkpoints: int
    eval_every: int = 0
    lr_schedule: str = "constant"  # constant, linear or cosine over the run
    on_divergence: str = "rollback"
    diagnose: bool = True
    loss: str = "nonsaturating"  # the monitor's remedies name it
    probabilistic: bool = True  # whether sigmoid(D) is a probability (not for critics and margins)
    samples: str = "images"  # what D judges, as the monitor names it ("images", "series", "samples")
    description: str = "training"


def _ignore(*_: Any) -> None:
    pass


@dataclass
class LoopOutput:
    """Where the loop writes: a checkpoints folder (None: the last good state is kept in memory) and the sinks of
    its log lines and diagnoses; `rewind(step)` drops records after `step` (a resume or a rollback)."""

    checkpoints: Path | None = None
    metrics: Callable[[dict[str, Any]], None] = _ignore
    diagnosis: Callable[[dict[str, Any]], None] = _ignore
    rewind: Callable[[int], None] = _ignore
    resumed: Callable[[int], None] = _ignore  # after a resume (not a rollback): drop diagnoses after the step

    @classmethod
    def for_run(cls, run: Any) -> LoopOutput:
        """Everything into a `RunFolder`."""
        return cls(run.checkpoints, run.append_metrics, run.append_diagnosis, run.truncate_metrics,
                   run.truncate_diagnoses)


class TrainingLoop:
    """Trains a task to `settings.steps`, keeping the loop's own state (step, partial statistics, rollbacks, best,
    monitor) beside the task's in every checkpoint."""

    def __init__(self, task: Task, settings: LoopSettings, output: LoopOutput, progress: bool = True,
                 threads: int = 1, core_share: CoreShare | None = None):
        self.task, self.settings, self.output, self.progress = task, settings, output, progress
        self.threads, self.core_share = threads, core_share
        self.step, self.stat_count = 0, 0
        self.stat_sum = torch.zeros(len(task.stat_names), dtype=torch.float64, device=task.device)
        self.lr_scale, self.rollbacks = 1.0, 0
        self.best: dict[str, Any] | None = None
        self.health = SampleHealth()
        self.monitor = None
        if settings.diagnose:
            self.monitor = HealthMonitor(settings.loss, warmup=max(10 * settings.log_every, settings.steps // 10),
                                         patience=max(3 * settings.log_every, settings.steps // 20),
                                         probabilistic=settings.probabilistic, samples=settings.samples)
        self._base_lr = {name: [g["lr"] for g in opt.param_groups] for name, opt in task.optimizers().items()}
        self._memory: tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Any]] | None = None

    # ----- checkpoints -----------------------------------------------------------------------------------------
    def weights_finite(self) -> bool:
        """Whether every weight being trained is finite."""
        return all(bool(torch.isfinite(p).all()) for m in self.task.trained_modules() for p in m.parameters())

    def latest(self) -> Path | tuple | None:
        """The last good state: the newest checkpoint, or the one in memory."""
        if self.output.checkpoints is None:
            return self._memory
        return ckpt.find_checkpoint_in(self.output.checkpoints)

    def save(self) -> Path | None:
        """Checkpoint the current step; non-finite weights are refused (callers roll back first)."""
        where = self.output.checkpoints
        if not self.weights_finite():
            kept = f"; the last good checkpoint stays in {where}" if where is not None else ""
            raise GanforgeError(f"refusing to save non-finite weights at step {self.step}{kept}")
        task = self.task
        processes = task.processes
        # every rank's random state (each draws its own augmentations); rank 0's under the one-process name
        states = processes.gather(torch.get_rng_state(), task.device)
        training: dict[str, Tensor] = {"rng.torch": states[0]}
        training.update({f"rng.torch.rank{rank}": state for rank, state in enumerate(states) if rank})
        optimizers = {}
        for name, optimizer in task.optimizers().items():
            tensors, optimizers[name] = ckpt.optimizer_to_tensors(optimizer, name)
            training.update(tensors)
        training.update({f"rng.{name}": g.get_state() for name, g in task.generators().items()})
        if task.device.type == "cuda":
            cuda_states = processes.gather(torch.cuda.get_rng_state(task.device), task.device)
            training["rng.cuda"] = cuda_states[0].cpu()
            training.update({f"rng.cuda.rank{rank}": state.cpu() for rank, state in enumerate(cuda_states) if rank})
        training.update({name: t.detach().cpu().contiguous() for name, t in task.tensors().items()})
        processes.mean_(self.stat_sum)  # the interval's partial sums, the same on every rank (the log averages them)
        training["stats.sum"] = self.stat_sum.cpu()
        if self.health.previous is not None:
            training["health.previous_fixed"] = self.health.previous.contiguous()
        state = {"kind": task.kind, "step": self.step, "stat_count": self.stat_count, "lr_scale": self.lr_scale,
                 "rollbacks": self.rollbacks, "best": self.best, "optimizers": optimizers,
                 "monitor": self.monitor.state_dict() if self.monitor is not None else None,
                 "identity": task.identity(), "task": task.state_dict()}
        models = ckpt.module_tensors(task.modules())
        if where is None:  # no folder: the last good state stays in memory, for rollback
            # copies: on the CPU the tensors above may be the live weights and moments themselves
            self._memory = ({k: v.clone() for k, v in models.items()}, {k: v.clone() for k, v in training.items()},
                            ckpt.plain_json(state))
            return None
        if not processes.main:  # rank 0 writes; the others wait until the checkpoint is there to roll back to
            processes.barrier()
            return where / ckpt.step_name(self.step)
        path = ckpt.save_checkpoint(where, self.step, models, training, ckpt.plain_json(state),
                                    self.settings.keep_checkpoints)
        processes.barrier()
        return path

    def restore(self, source: Path | tuple, rolling_back: bool = False) -> None:
        """Continue from a checkpoint (or the state in memory): weights, optimizer moments, every RNG, the step and
        partial statistics. A checkpoint of another kind, other options or other data is refused by name."""
        if isinstance(source, Path):
            models, training, state = ckpt.load_checkpoint(source)
        else:  # copies: optimizers keep the tensors they are given and update them in place
            models, training = ({k: v.clone() for k, v in part.items()} for part in source[:2])
            state = source[2]
        task = self.task
        ckpt.check_identity(source, state, task.kind, task.identity(), task.other_data, task.resumable)
        ckpt.load_module_tensors(task.modules(), models, source)
        for name, optimizer in task.optimizers().items():
            meta = state["optimizers"].get(name) or state["optimizers"][LEGACY_OPTIMIZER_NAMES[name]]
            ckpt.optimizer_from_tensors(optimizer, name, training, meta)
        rank = task.processes.rank
        torch.set_rng_state(training.get(f"rng.torch.rank{rank}", training["rng.torch"]))
        for name, generator in task.generators().items():
            generator.set_state(training[f"rng.{name}"])
        if "rng.cuda" in training and task.device.type == "cuda":
            torch.cuda.set_rng_state(training.get(f"rng.cuda.rank{rank}", training["rng.cuda"]), task.device)
        task.load_tensors(training)
        task.load_state_dict(state.get("task") or {})
        saved = training["stats.sum"]  # shorter in checkpoints made before a task logged more statistics
        self.stat_sum = torch.zeros(len(task.stat_names), dtype=torch.float64, device=task.device)
        self.stat_sum[: len(saved)] = saved.to(task.device)
        self.stat_count, self.step = int(state["stat_count"]), int(state["step"])
        self.lr_scale, self.rollbacks = float(state.get("lr_scale", 1.0)), int(state.get("rollbacks", 0))
        self.best = state.get("best")
        self.health.previous = training.get("health.previous_fixed")
        if self.monitor is not None and state.get("monitor"):
            self.monitor.load_state_dict(state["monitor"])
        self.output.rewind(self.step)
        if not rolling_back:
            self.output.resumed(self.step)

    def _schedule_learning_rates(self) -> None:
        """Set every learning rate for the coming step: base × rollback scale × schedule(progress) × the task's
        factor (a phase of its own)."""
        progress = self.step / max(1, self.settings.steps)
        factor = {"constant": 1.0, "linear": 1.0 - progress,
                  "cosine": 0.5 * (1.0 + math.cos(math.pi * progress))}[self.settings.lr_schedule] * self.lr_scale
        factor *= self.task.lr_factor(self.step)
        for name, optimizer in self.task.optimizers().items():
            for group, base in zip(optimizer.param_groups, self._base_lr[name], strict=True):
                group["lr"] = base * factor

    # ----- logging and health ----------------------------------------------------------------------------------
    def _log(self, seconds: float) -> dict[str, Any]:
        task = self.task
        task.processes.mean_(self.stat_sum)  # with several processes: the interval's statistics over all ranks
        means = (self.stat_sum / max(1, self.stat_count)).tolist()
        record: dict[str, Any] = {"step": self.step, **task.log_fields(self.step),
                                  **dict(zip(task.stat_names, means, strict=True))}
        record["seconds"] = seconds  # of training in this interval (sampling, checkpoints, evaluation left out)
        record["sec_per_step"] = seconds / max(1, self.stat_count)
        record["samples_per_sec"] = task.batch_size * task.processes.world / record["sec_per_step"] \
            if seconds > 0 else None  # of all processes together
        record["g_grad_norm"], record["d_grad_norm"] = task.grad_norms
        record["threads"] = self.threads
        if self.monitor is not None:
            fake = task.fixed_samples()
            if fake is not None:
                record.update(self.health.measure(fake, task.real_samples))
                if math.isfinite(record.get("diversity", math.nan)):
                    record.update(task.more_health(fake))
        self.output.metrics(record)
        self.stat_sum.zero_()
        self.stat_count = 0
        return record

    def _diagnose(self, record: dict[str, Any]) -> bool:
        """Feed the monitor; write and announce findings. Returns False when the run has diverged (non-finite)."""
        finite = self.weights_finite() and all(math.isfinite(record[k]) for k in self.task.stat_names)
        if self.monitor is None:
            return finite
        observation = Observation(
            step=self.step, d_loss=record["d_loss"], g_loss=record["g_loss"], d_real=record["d_real"],
            d_fake=record["d_fake"], g_grad_norm=record["g_grad_norm"], d_grad_norm=record["d_grad_norm"],
            weights_finite=finite, diversity=record.get("diversity"), modes_reached=record.get("modes_reached"),
            modes_total=record.get("modes_total"), movement=record.get("movement"), rt=record.get("rt"),
            augmented=self.task.augments(), phase=record.get("phase"),
            **{key: record.get(key) for key in (*CLASS_HEALTH, *SEQUENCE_HEALTH)})
        for event in self.monitor.observe(observation):
            self._announce(event)
        return finite

    def _announce(self, event: Event) -> None:
        self.output.diagnosis(event.to_json())
        finding = event.finding
        if event.kind == "start":
            log.warning("step %s: %s — %s. Try: %s.", f"{self.step:,}", finding.name.replace("_", " "),
                        finding.evidence, finding.remedy)
        else:
            log.info("step %s: %s has cleared", f"{self.step:,}", finding.name.replace("_", " "))

    def _roll_back(self) -> None:
        """Return to the last good checkpoint with halved learning rates, or stop if that is not allowed."""
        good = self.latest()
        if self.settings.on_divergence == "stop" or self.rollbacks >= MAX_ROLLBACKS or good is None:
            why = "" if self.settings.on_divergence == "stop" else f" after {self.rollbacks} rollbacks"
            kept = f"the last good checkpoint stays in {self.output.checkpoints}" if self.output.checkpoints \
                else "nothing was kept"
            raise GanforgeError(f"training diverged at step {self.step}{why} (losses or weights are NaN or infinite); "
                                f"nothing was saved and {kept}. Try lower learning rates (--lr-g, --lr-d)")
        diverged_at, rollbacks, scale = self.step, self.rollbacks + 1, self.lr_scale / 2
        self.restore(good, rolling_back=True)
        self.rollbacks, self.lr_scale = rollbacks, scale
        self._schedule_learning_rates()
        self.health.previous = None
        self._announce(Event("rollback", Finding(  # logged at the divergence's step, when it happened
            "divergence", f"diverged at step {diverged_at:,}; rolled back to step {self.step:,} with learning rates "
                          f"× {scale:g}", "lower --lr-g and --lr-d", diverged_at)))
        self.task.start(self.step)

    def _share_cores(self) -> None:
        """Follow the cores other processes leave free (each change is logged in metrics.jsonl as `threads`)."""
        threads = self.core_share.threads(self.threads)
        if threads != self.threads:
            log.info("step %s: %s; training with %d thread%s", f"{self.step:,}",
                     "other processes are using the cores" if threads < self.threads else "cores are free again",
                     threads, "" if threads == 1 else "s")
            torch.set_num_threads(threads)
            self.threads = threads

    # ----- evaluation ------------------------------------------------------------------------------------------
    def _evaluate(self) -> dict[str, Any]:
        """Run the task's metrics on forked RNGs, log them and keep `checkpoints/best` up to date."""
        # forked: building a feature network draws initial weights from the global RNG, which a resumed run
        # (restored to the checkpoint before this evaluation) would not have done
        cuda = [self.task.device] if self.task.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            # rank 0 evaluates (the generators are the same on every rank) and tells the others
            results = self.task.evaluate(self.step) if self.task.processes.main else None
        results = self.task.processes.share(results)
        self.output.metrics({"step": self.step, "eval": results})
        key = self.task.best_metric
        if key is None or self.output.checkpoints is None:
            return results
        if key not in results:
            raise GanforgeError(f"option --best-metric {key} is not among the evaluated values "
                                f"({', '.join(k for k, v in results.items() if isinstance(v, int | float))})")
        if not self.weights_finite():  # never kept as best, never saved: the next log interval rolls back
            return results
        value, lower = float(results[key]), better_direction(key) == "min"
        if math.isnan(value):
            return results
        if self.best is None or (value < self.best["value"] if lower else value > self.best["value"]):
            self.best = {"metric": key, "value": value, "step": self.step}
            path = self.latest() if self._saved_at_this_step() else self.save()
            if self.task.processes.main:  # every rank saves (it gathers their states); rank 0 writes
                ckpt.keep_as_best(path, self.best)
        return results

    # ----- the loop --------------------------------------------------------------------------------------------
    def fit(self, run_dir: Path | None = None) -> TrainResult:
        """Train until `settings.steps`; Ctrl-C saves a checkpoint and returns with `interrupted=True`."""
        cfg, task = self.settings, self.task
        if self.step >= cfg.steps:
            return TrainResult(run_dir, self.step, False, {})
        if task.processes.share(self.latest() is None):  # rank 0 decides: it may be writing the folder now
            self.save()  # step 0: something good to roll back to
        task.start(self.step)
        last: dict[str, Any] = {}
        interrupted = False
        bar = tqdm(total=cfg.steps, initial=self.step, desc=cfg.description, unit="step", dynamic_ncols=True,
                   disable=not self.progress, smoothing=0.05, mininterval=0.1 if sys.stderr.isatty() else 10.0)
        pace = Pace(self.step, cfg.steps) if task.processes.main else None  # says how long the run will take
        busy = 0.0  # seconds of sampling, checkpoints and evaluation in the current log interval: not step time
        interval_start = time.perf_counter()
        try:
            processes = task.processes
            with StopOnInterrupt(shared=processes.active) as stop, bar:
                while self.step < cfg.steps:
                    logging_now = (self.step + 1) % cfg.log_every == 0 or self.step + 1 == cfg.steps
                    self._schedule_learning_rates()  # a schedule, or a task's phase, may change the rates
                    self.stat_sum += task.train_step(self.step, logging_now)
                    self.stat_count += 1
                    self.step += 1
                    if self.core_share is not None:
                        self._share_cores()
                    bar.update(1)
                    if pace is not None:
                        pace.step_done(self.step)
                    finished = self.step == cfg.steps
                    # a stop asked of any rank is every rank's, at this same step
                    stopping = processes.any(stop.requested, task.device)
                    if logging_now:
                        last = self._log(time.perf_counter() - interval_start - busy)
                        interval_start, busy = time.perf_counter(), 0.0
                        if not self._diagnose(last):
                            self._roll_back()
                            bar.reset(total=cfg.steps)
                            bar.update(self.step)
                            continue
                        bar.set_postfix(self._postfix(last))
                    io_start = time.perf_counter()
                    sampling = self.step % cfg.sample_every == 0 or finished
                    evaluating = bool(cfg.eval_every) and (self.step % cfg.eval_every == 0 or finished)
                    if sampling and processes.main:
                        task.preview(self.step)
                    if evaluating:  # before the checkpoint, so that it holds this evaluation's best
                        self._evaluate()
                    if self.step % cfg.checkpoint_every == 0 or finished or stopping:
                        if not self.weights_finite():
                            self._roll_back()
                            continue
                        if not self._saved_at_this_step():  # a new best was saved already
                            self.save()
                    busy += time.perf_counter() - io_start
                    if sampling or evaluating:  # a Ctrl-C may have come meanwhile
                        stopping = processes.any(stop.requested, task.device)
                    if stopping and not finished:  # Ctrl-C during sampling or evaluation: save now
                        if not self._saved_at_this_step():
                            self.save()
                        interrupted = True
                        break
        finally:  # the report and TensorBoard see the end of every run, however it ended
            task.finish(self.step)
        return TrainResult(run_dir, self.step, interrupted, last)

    def _saved_at_this_step(self) -> bool:
        """Whether the last good state is this step's (on disk or in memory)."""
        latest = self.latest()
        if isinstance(latest, Path):
            return latest.name == ckpt.step_name(self.step)
        return latest is not None and latest[2]["step"] == self.step

    def _postfix(self, last: dict[str, Any]) -> dict[str, str]:
        postfix = {label: f"{last[name]:{spec}}" for name, label, spec in self.task.shown_stats}
        if self.monitor is not None and self.monitor.active:
            postfix["!"] = ",".join(self.monitor.active)
        return postfix
