"""The training loop: alternating discriminator and generator steps, with logging, sample grids and checkpoints.

One step = `d_steps` discriminator updates, then one generator update. The generator update reuses the samples of
the last discriminator update (as in the reference DCGAN loop), so each step costs one generator forward pass.
Everything random is drawn from generators whose state is checkpointed, and the data order is a pure function of
the step, so a resumed run continues bit for bit as if it had never stopped.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ganforge import __version__
from ganforge.config import TrainConfig
from ganforge.data import IMAGE, Dataset
from ganforge.data.export import save_samples
from ganforge.diagnostics import Event, Finding, HealthMonitor, Observation
from ganforge.diagnostics.classes import CLASS_HEALTH, ClassReference
from ganforge.errors import GanforgeError
from ganforge.losses import get_loss
from ganforge.metrics.base import better_direction
from ganforge.models import MODELS, build_models, default_model, option_names, resolve_options, sample_latent
from ganforge.models.conditional import auxiliary_loss
from ganforge.regularizers.augment import diff_augment, parse_policy
from ganforge.regularizers.ema import GeneratorEMA
from ganforge.regularizers.penalties import r1_penalty, wgan_gradient_penalty
from ganforge.training import checkpoint as ckpt
from ganforge.training.hardware import CoreShare, autocast_factory, pick_device, pick_precision, set_threads
from ganforge.training.interrupt import StopOnInterrupt
from ganforge.training.run_folder import RunFolder

log = logging.getLogger("ganforge")
MAX_ROLLBACKS = 3
DIVERSITY_SAMPLES = 1000  # all fixed points of vector data; images have 64
GRID_COLUMNS = 8  # conditional grids: one class per row, this many samples each
GRID_CLASSES = 16  # at most this many classes (rows) in a conditional grid, spread over the class list
STAT_NAMES = ("d_loss", "g_loss", "d_real", "d_fake")


@dataclass
class TrainResult:
    """What a finished (or interrupted) run leaves: where it is, how far it got, its last logged metrics."""

    run_dir: Path
    step: int
    interrupted: bool = False
    last_metrics: dict[str, Any] = field(default_factory=dict)


def resolve_model(config: TrainConfig, kind: str, classes: int = 0) -> tuple[str, dict[str, Any]]:
    """The model family and its full options for this data kind (defaults filled in).

    Fills the configuration's unset optimisation options (learning rates, batch size, fixed samples) with the
    family's defaults, so `config.json` records the values actually used.
    """
    name = default_model(kind) if config.model == "auto" else config.model
    options = resolve_options(name, kind, {k: getattr(config, k) for k in option_names()})
    for key, value in MODELS[name].training.items():
        if getattr(config, key) is None:
            setattr(config, key, value)
    if config.n_fixed_samples is None:
        config.n_fixed_samples = 64 if kind == IMAGE else 1000
        if config.conditional and kind == IMAGE:
            config.n_fixed_samples = GRID_COLUMNS * min(classes, GRID_CLASSES)
    config.model = name
    return name, options


def fixed_labels(n: int, classes: int) -> Tensor:
    """Classes of the fixed samples: rows of `GRID_COLUMNS` samples of one class, the rows spread over the classes
    (all of them when there are at most `GRID_CLASSES`), repeated to fill `n`."""
    shown = torch.linspace(0, classes - 1, min(classes, GRID_CLASSES)).round().long()
    return shown[(torch.arange(n) // GRID_COLUMNS) % len(shown)]


class Trainer:
    """Trains one GAN on one dataset into one run folder."""

    def __init__(self, config: TrainConfig, dataset: Dataset, run: RunFolder, progress: bool = True):
        self.config, self.dataset, self.run, self.progress = config, dataset, run, progress
        self.device = pick_device(config.device)
        self.classes = dataset.num_classes if config.conditional else 0
        self.model_name, self.model_options = resolve_model(config, dataset.kind, self.classes)
        self.threads = set_threads(config.threads, self.device, getattr(dataset, "workers", 0))
        # --threads 0 on a CPU: give cores up to other processes while they are busy (see CoreShare)
        self.core_share = CoreShare(self.threads) if config.threads == 0 and self.device.type == "cpu" \
            and self.threads > 1 else None
        self.precision = pick_precision(config.precision, self.device)
        self.autocast = autocast_factory(self.precision, self.device)
        self.loss = get_loss(config.loss)
        self._configure_regularisers(config)

        torch.manual_seed(config.seed)
        generator, discriminator = build_models(self.model_name, dataset.sample_shape, self.model_options,
                                                pack=config.pack, spectral_norm=config.spectral_norm,
                                                classes=self.classes, cond=config.cond)
        # channels_last lets oneDNN/cuDNN pick their fastest convolution kernels for image models.
        self.memory_format = torch.channels_last if dataset.kind == IMAGE and self.model_name == "dcgan" \
            else torch.contiguous_format
        self.generator = generator.to(self.device, memory_format=self.memory_format)
        self.discriminator = discriminator.to(self.device, memory_format=self.memory_format)
        self.ema = GeneratorEMA(self.generator, config.ema) if config.ema > 0 else None
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas_g)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=config.betas_d)

        latent_dim = self.model_options["latent_dim"]
        self.noise_rng = torch.Generator().manual_seed(config.seed + 1)
        fixed_rng = torch.Generator().manual_seed(config.seed + 2)
        self.fixed_noise = sample_latent(config.latent, config.n_fixed_samples, latent_dim, fixed_rng)
        self.fixed_labels: Tensor | None = None
        self.label_frequencies: Tensor | None = None
        if self.classes:
            self.fixed_labels = fixed_labels(config.n_fixed_samples, self.classes)
            self.label_frequencies = dataset.class_frequencies().float()
        self.step = 0
        self.stat_sum = torch.zeros(len(STAT_NAMES), dtype=torch.float64, device=self.device)
        self.stat_count = 0
        self.reference: Tensor | None = None
        self.grad_norms = (math.nan, math.nan)
        self.lr_scale, self.rollbacks = 1.0, 0
        self.monitor = None
        if config.diagnose:
            self.monitor = HealthMonitor(config.loss, warmup=max(10 * config.log_every, config.steps // 10),
                                         patience=max(3 * config.log_every, config.steps // 20),
                                         probabilistic=self.loss.probabilistic)
        self._previous_fixed: Tensor | None = None
        self._real_spread: float | None = None
        self._class_reference: ClassReference | None = None
        self.best: dict[str, Any] | None = None
        self._evaluator: Any = None
        self.best_metric = self._resolve_best_metric(config) if config.eval_every else config.best_metric

    def _resolve_best_metric(self, config: TrainConfig) -> str:
        """The value that ranks checkpoints, checked before training against the metrics that will run. `auto`:
        mode coverage where modes are known (ring, grid), else the Fréchet distance, else the first rankable value."""
        from ganforge.features import default_features
        from ganforge.metrics import METRICS, Context
        from ganforge.metrics.evaluate import default_metrics, parse_metrics

        features = config.eval_features or default_features(self.dataset.name, self.dataset.kind)
        context = Context(self.dataset, features, conditional=bool(self.classes))
        names = parse_metrics(config.eval_metrics) or default_metrics(context)
        values = [value for name in names for value, better in METRICS[name].values_for(context).items() if better]
        if config.best_metric == "auto":
            preferred = ["modes"] if "modes" in self.dataset.info else []
            return next((v for v in [*preferred, "fd"] if v in values), values[0] if values else "fd")
        better_direction(config.best_metric)  # a value that cannot rank checkpoints is refused by name
        if config.best_metric not in values:
            raise GanforgeError(f"option --best-metric {config.best_metric} is not given by the metrics evaluated "
                                f"while training ({', '.join(names)}); rankable values there: {', '.join(values)}")
        return config.best_metric

    def _configure_regularisers(self, config: TrainConfig) -> None:
        """Check the regulariser options against the loss and the data, and fill in implied values."""
        if config.gp is None:
            config.gp = 10.0 if self.loss.implied_penalty == "gp" else 0.0
        if config.label_smoothing:
            if not self.loss.probabilistic:
                raise GanforgeError(f"option --label-smoothing works with the cross-entropy losses (minimax, "
                                    f"nonsaturating), not {config.loss}")
            self.loss.real_label = 1.0 - config.label_smoothing
        self.augment_policy = parse_policy(config.augment) if config.augment else []
        if self.augment_policy and self.dataset.kind != IMAGE:
            raise GanforgeError("option --augment (DiffAugment) applies to images, not vector data")
        if config.batch_size % config.pack:
            raise GanforgeError(f"option --pack {config.pack} needs --batch-size divisible by it, "
                                f"got {config.batch_size}")

    def _discriminator_view(self, x: Tensor) -> Tensor:
        """What D sees: DiffAugment and annealed instance noise, the same for real and generated samples."""
        if self.augment_policy:
            x = diff_augment(x, self.augment_policy)
        if self.config.instance_noise:
            sigma = self.config.instance_noise * max(0.0, 1.0 - self.step / max(1, self.config.steps))
            x = x + sigma * torch.randn_like(x)
        return x

    @property
    def sampling_generator(self) -> torch.nn.Module:
        """The generator used for grids and evaluation: the EMA average when there is one."""
        return self.ema.average if self.ema is not None else self.generator

    # ----- the run folder -------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Everything `config.json` records: the resolved configuration, model, data codec, hardware choices."""
        return {
            "ganforge": __version__,
            "config": self.config.to_json(),
            "model": {"name": self.model_name, "options": self.model_options, "pack": self.config.pack,
                      "spectral_norm": self.config.spectral_norm, "ema": self.ema is not None,
                      "conditional": {"method": self.config.cond, "classes": self.classes} if self.classes else None},
            "data": {"name": self.dataset.name, "size": len(self.dataset), **self.dataset.codec.to_json(),
                     "classes": self.dataset.class_names if self.classes else None,
                     "class_counts": self.dataset.class_counts() if self.classes else None},
            "runtime": {"device": str(self.device), "precision": self.precision, "threads": self.threads,
                        "threads_adapt": self.core_share is not None},
        }

    def weights_finite(self) -> bool:
        """Whether every parameter of both networks is finite."""
        return all(bool(torch.isfinite(p).all()) for p in self._parameters())

    def save(self) -> Path:
        """Write a checkpoint of the current step; non-finite weights are refused (callers roll back first)."""
        if not self.weights_finite():
            raise GanforgeError(f"refusing to save non-finite weights at step {self.step}; the last good checkpoint "
                                f"stays in {self.run.checkpoints}")
        tensors = ckpt.module_tensors(self._modules_to_save())
        g_tensors, g_meta = ckpt.optimizer_to_tensors(self.opt_g, "opt_g")
        d_tensors, d_meta = ckpt.optimizer_to_tensors(self.opt_d, "opt_d")
        training = {**g_tensors, **d_tensors,
                    "rng.torch": torch.get_rng_state(), "rng.noise": self.noise_rng.get_state(),
                    "fixed_noise": self.fixed_noise, "stats.sum": self.stat_sum.cpu()}
        if self._previous_fixed is not None:
            training["health.previous_fixed"] = self._previous_fixed.contiguous()
        if self.device.type == "cuda":
            training["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        state = {"step": self.step, "stat_count": self.stat_count, "lr_scale": self.lr_scale,
                 "rollbacks": self.rollbacks, "best": self.best,
                 "monitor": self.monitor.state_dict() if self.monitor is not None else None,
                 "optimizers": {"generator": g_meta, "discriminator": d_meta},
                 "model": {"name": self.model_name, "options": self.model_options}}
        return ckpt.save_checkpoint(self.run.checkpoints, self.step, tensors, training, state,
                                    self.config.keep_checkpoints)

    def restore(self, path: Path) -> None:
        """Continue from a checkpoint: weights, optimizer moments, every RNG, the step and partial statistics."""
        tensors, training, state = ckpt.load_checkpoint(path)
        ckpt.load_module_tensors(self._modules_to_save(), tensors, path)
        ckpt.optimizer_from_tensors(self.opt_g, "opt_g", training, state["optimizers"]["generator"])
        ckpt.optimizer_from_tensors(self.opt_d, "opt_d", training, state["optimizers"]["discriminator"])
        torch.set_rng_state(training["rng.torch"])
        self.noise_rng.set_state(training["rng.noise"])
        if "rng.cuda" in training and self.device.type == "cuda":
            torch.cuda.set_rng_state(training["rng.cuda"], self.device)
        self.fixed_noise = training["fixed_noise"]
        self.stat_sum = training["stats.sum"].to(self.device)
        self.stat_count = int(state["stat_count"])
        self.step = int(state["step"])
        self.lr_scale, self.rollbacks = float(state.get("lr_scale", 1.0)), int(state.get("rollbacks", 0))
        self.best = state.get("best")
        self._previous_fixed = training.get("health.previous_fixed")
        if self.monitor is not None and state.get("monitor"):
            self.monitor.load_state_dict(state["monitor"])
        self.run.truncate_metrics(self.step)

    def _modules_to_save(self) -> dict[str, torch.nn.Module]:
        modules = {"generator": self.generator, "discriminator": self.discriminator}
        if self.ema is not None:
            modules["generator_ema"] = self.ema.average
        return modules

    def _schedule_learning_rates(self) -> None:
        """Set both learning rates for the coming step: base × rollback scale × schedule(progress)."""
        cfg = self.config
        progress = self.step / max(1, cfg.steps)
        factor = {"constant": 1.0, "linear": 1.0 - progress,
                  "cosine": 0.5 * (1.0 + math.cos(math.pi * progress))}[cfg.lr_schedule] * self.lr_scale
        for optimizer, base in ((self.opt_g, cfg.lr_g), (self.opt_d, cfg.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = base * factor

    def _parameters(self) -> Iterator[Tensor]:
        yield from self.generator.parameters()
        yield from self.discriminator.parameters()

    # ----- one step -------------------------------------------------------------------------------------------
    def _noise(self, n: int) -> Tensor:
        z = sample_latent(self.config.latent, n, self.model_options["latent_dim"], self.noise_rng)
        return z.to(self.device, non_blocking=True)

    def _fake_labels(self, n: int) -> Tensor | None:
        """Classes for generated samples, drawn by their frequency in the data (as stylegan2-ada does)."""
        if self.label_frequencies is None:
            return None
        labels = torch.multinomial(self.label_frequencies, n, replacement=True, generator=self.noise_rng)
        return labels.to(self.device, non_blocking=True)

    def generate(self, generator: torch.nn.Module, z: Tensor, labels: Tensor | None) -> Tensor:
        """G(z), or G(z, y) for a conditional run."""
        return generator(z) if labels is None else generator(z, labels)

    def judge(self, x: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """(D's logits, ACGAN class logits or None): D(x), or D(x, y) for a conditional run."""
        if labels is None:
            return self.discriminator(x), None
        return self.discriminator(x, labels)

    @staticmethod
    def _grad_norm(module: torch.nn.Module) -> float:
        norms = [p.grad.detach().float().norm() for p in module.parameters() if p.grad is not None]
        return float(torch.stack(norms).norm()) if norms else 0.0

    def _penalties(self, real_in: Tensor, fake_in: Tensor, real_logits: Tensor, fake_logits: Tensor,
                   real_labels: Tensor | None = None) -> Tensor:
        """The regularisation phase of a D step: R1, R2 and the WGAN penalty, scaled for lazy application."""
        cfg = self.config
        total = torch.zeros((), device=real_logits.device)
        if cfg.r1:
            total = total + cfg.r1 * r1_penalty(real_logits, real_in)
        if cfg.r2:
            total = total + cfg.r2 * r1_penalty(fake_logits, fake_in)
        if cfg.gp:
            # interpolates are judged as the real samples' class (as StudioGAN does for conditional WGAN-GP)
            critic = lambda x: self.judge(x, real_labels)[0]  # noqa: E731
            total = total + cfg.gp * wgan_gradient_penalty(critic, real_in, fake_in, pack=cfg.pack)
        return total * cfg.lazy_every

    def train_step(self, batches: Iterator[Tensor], measure: bool = False) -> Tensor:
        """`d_steps` discriminator updates, then one generator update; returns detached step statistics.

        With `measure`, also records both networks' gradient norms (for the health monitor) in `grad_norms`.
        """
        generator, discriminator, loss, cfg = self.generator, self.discriminator, self.loss, self.config
        regularise = self.step % cfg.lazy_every == 0  # lazy regularisation: every k steps, scaled by k
        real_labels = fake_labels = None
        for i in range(cfg.d_steps):
            real = next(batches)
            if self.classes:
                real, real_labels = real
            real = real.contiguous(memory_format=self.memory_format)
            z = self._noise(real.shape[0])
            fake_labels = self._fake_labels(real.shape[0])
            last = i == cfg.d_steps - 1
            with self.autocast(), torch.set_grad_enabled(last):
                fake = self.generate(generator, z, fake_labels)  # kept with its graph on the last pass, for G
            real_in = self._discriminator_view(real)
            fake_in = self._discriminator_view(fake.detach())
            if regularise and cfg.r1:
                real_in = real_in.detach().requires_grad_(True)
            if regularise and cfg.r2:
                fake_in = fake_in.detach().requires_grad_(True)
            with self.autocast():
                real_logits, real_classes = self.judge(real_in, real_labels)
                fake_logits, _ = self.judge(fake_in, fake_labels)
                d_loss = loss.discriminator_loss(real_logits.float(), fake_logits.float())
                if real_classes is not None:  # ACGAN: D's classifier learns the real samples' classes
                    d_loss = d_loss + auxiliary_loss(real_classes, real_labels)
                if regularise:
                    d_loss = d_loss + self._penalties(real_in, fake_in, real_logits, fake_logits, real_labels)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            if measure and last:
                d_norm = self._grad_norm(discriminator)
            self.opt_d.step()

        discriminator.requires_grad_(False)  # no weight gradients for D during G's update
        with self.autocast():
            fake_logits_g, fake_classes = self.judge(self._discriminator_view(fake), fake_labels)
            real_logits_g = None
            if loss.generator_needs_real:
                real_logits_g = self.judge(self._discriminator_view(real), real_labels)[0].float()
            g_loss = loss.generator_loss(fake_logits_g.float(), real_logits_g)
            if fake_classes is not None:  # ACGAN: G makes samples D's classifier files under the class asked for
                g_loss = g_loss + auxiliary_loss(fake_classes, fake_labels)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        if measure:
            self.grad_norms = (self._grad_norm(generator), d_norm)
        self.opt_g.step()
        discriminator.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(generator)

        with torch.no_grad():
            return torch.stack([d_loss.detach(), g_loss.detach(), torch.sigmoid(real_logits.float()).mean(),
                                torch.sigmoid(fake_logits.float()).mean()])

    def _share_cores(self) -> None:
        """Follow the cores other processes leave free (each change is logged in metrics.jsonl as `threads`)."""
        threads = self.core_share.threads(self.threads)
        if threads != self.threads:
            log.info("step %s: %s; training with %d thread%s", f"{self.step:,}",
                     "other processes are using the cores" if threads < self.threads else "cores are free again",
                     threads, "" if threads == 1 else "s")
            torch.set_num_threads(threads)
            self.threads = threads

    # ----- the loop -------------------------------------------------------------------------------------------
    def sample_grid(self) -> Path:
        """Save `samples/step_NNNNNN.png` from the fixed noise batch (G in eval mode, so batch-norm is stable)."""
        generator = self.sampling_generator
        generator.eval()
        with torch.no_grad(), self.autocast():
            fake = self.generate(generator, self.fixed_noise.to(self.device), self._fixed_labels_on_device())
        self.generator.train()
        user = self.dataset.codec.decode(fake.float())
        if self.dataset.kind != IMAGE and self.reference is None:
            self.reference = self.dataset.real_samples(2000, seed=0)
        path = self.run.samples / f"step_{self.step:06d}.png"
        columns = GRID_COLUMNS if self.classes else None  # one class per row
        return save_samples(user, self.dataset.kind, path, reference=self.reference, columns=columns)

    def _fixed_labels_on_device(self, n: int | None = None) -> Tensor | None:
        if self.fixed_labels is None:
            return None
        return self.fixed_labels[:n].to(self.device)

    def _log(self, seconds: float) -> dict[str, Any]:
        means = (self.stat_sum / max(1, self.stat_count)).tolist()
        record: dict[str, Any] = {"step": self.step, **dict(zip(STAT_NAMES, means, strict=True))}
        record["sec_per_step"] = seconds / max(1, self.stat_count)
        record["samples_per_sec"] = self.config.batch_size / record["sec_per_step"] if seconds > 0 else None
        record["g_grad_norm"], record["d_grad_norm"] = self.grad_norms
        record["threads"] = self.threads
        record.update(self._fixed_sample_health())
        self.run.append_metrics(record)
        self.stat_sum.zero_()
        self.stat_count = 0
        return record

    # ----- health, evaluation, rollback ----------------------------------------------------------------------
    @torch.no_grad()
    def _fixed_sample_health(self) -> dict[str, Any]:
        """Spread, mode reach and movement of the generator's samples on (part of) the fixed noise batch."""
        if self.monitor is None:
            return {}
        self.generator.eval()
        with self.autocast():
            fake = self.generate(self.generator, self.fixed_noise[:DIVERSITY_SAMPLES].to(self.device),
                                 self._fixed_labels_on_device(DIVERSITY_SAMPLES)).float().flatten(1).cpu()
        self.generator.train()
        if not bool(torch.isfinite(fake).all()):
            return {"diversity": math.nan}
        if self._real_spread is None:
            real = self.dataset.codec.encode(self.dataset.real_samples(len(fake), seed=1)).flatten(1)
            self._real_spread = float(torch.pdist(real.double()).mean())
        spread = float(torch.pdist(fake.double()).mean())
        health: dict[str, Any] = {"diversity": spread / max(self._real_spread, 1e-12)}
        if self._previous_fixed is not None:
            change = (fake - self._previous_fixed).norm() / self._previous_fixed.norm().clamp_min(1e-12)
            health["movement"] = float(change)
        self._previous_fixed = fake
        if self.classes:
            health.update(self._class_health(fake))
        if "modes" in self.dataset.info:
            modes = torch.tensor(self.dataset.info["modes"], dtype=torch.float64)
            nearest = torch.cdist(self.dataset.codec.decode(fake).double(), modes).argmin(1)
            counts = torch.bincount(nearest, minlength=len(modes))
            health["modes_reached"] = int((counts >= len(fake) / (4 * len(modes))).sum())
            health["modes_total"] = len(modes)
        return health

    def _class_health(self, fake: Tensor) -> dict[str, Any]:
        """Per-class spread of the fixed samples (against real samples of the class) and the class their nearest
        real class mean names: a class that collapses alone, or whose samples look like another class."""
        if self._class_reference is None:
            self._class_reference = ClassReference(self.dataset)
        return self._class_reference.judge(fake, self.fixed_labels[: len(fake)])

    def _diagnose(self, record: dict[str, Any]) -> bool:
        """Feed the monitor; write and announce findings. Returns False when the run has diverged (non-finite)."""
        finite = self.weights_finite() and all(math.isfinite(record[k]) for k in STAT_NAMES)
        if self.monitor is None:
            return finite
        observation = Observation(
            step=self.step, d_loss=record["d_loss"], g_loss=record["g_loss"], d_real=record["d_real"],
            d_fake=record["d_fake"], g_grad_norm=record["g_grad_norm"], d_grad_norm=record["d_grad_norm"],
            weights_finite=finite, diversity=record.get("diversity"), modes_reached=record.get("modes_reached"),
            modes_total=record.get("modes_total"), movement=record.get("movement"),
            **{key: record.get(key) for key in CLASS_HEALTH})
        for event in self.monitor.observe(observation):
            self._announce(event)
        return finite

    def _announce(self, event: Event) -> None:
        self.run.append_diagnosis(event.to_json())
        finding = event.finding
        if event.kind == "start":
            log.warning("step %s: %s — %s. Try: %s.", f"{self.step:,}", finding.name.replace("_", " "),
                        finding.evidence, finding.remedy)
        else:
            log.info("step %s: %s has cleared", f"{self.step:,}", finding.name.replace("_", " "))

    def _roll_back(self, cfg: TrainConfig) -> Iterator[Tensor]:
        """Return to the last good checkpoint with halved learning rates, or stop if that is not allowed."""
        good = ckpt.find_checkpoint(self.run.path)
        if cfg.on_divergence == "stop" or self.rollbacks >= MAX_ROLLBACKS or good is None:
            why = "" if cfg.on_divergence == "stop" else f" after {self.rollbacks} rollbacks"
            raise GanforgeError(
                f"training diverged at step {self.step}{why} (losses or weights are NaN or infinite); nothing was "
                f"saved and the last good checkpoint stays in {self.run.checkpoints}. Try lower --lr-g/--lr-d"
            )
        diverged_at, rollbacks, scale = self.step, self.rollbacks + 1, self.lr_scale / 2
        self.restore(good)
        self.rollbacks, self.lr_scale = rollbacks, scale
        self._schedule_learning_rates()
        self._previous_fixed = None
        self._announce(Event("rollback", Finding(  # logged at the divergence's step, when it happened
            "divergence", f"diverged at step {diverged_at:,}; rolled back to step {self.step:,} with learning rates "
                          f"× {scale:g}", "lower --lr-g and --lr-d", diverged_at)))
        return self._batches()

    def _batches(self) -> Iterator[Any]:
        """The data stream from the current step on: samples, or (samples, labels) in a conditional run."""
        cfg = self.config
        return self.dataset.batches(cfg.batch_size, cfg.seed, self.step * cfg.d_steps, self.device,
                                    with_labels=bool(self.classes))

    def _sample_for_eval(self, n: int, seed: int, labels: Tensor | None = None) -> Tensor:
        """`n` samples in the user's form from the current generator (of the classes `labels` in a conditional
        run); its own noise leaves training RNGs alone."""
        rng = torch.Generator().manual_seed(seed + 1)
        z = sample_latent(self.config.latent, n, self.model_options["latent_dim"], rng)
        generator = self.sampling_generator
        generator.eval()
        with torch.no_grad(), self.autocast():
            parts = [self.dataset.codec.decode(self.generate(
                generator, z[i : i + 500].to(self.device),
                None if labels is None else labels[i : i + 500].to(self.device)).float()).cpu()
                for i in range(0, n, 500)]
        self.generator.train()
        return torch.cat(parts)

    def _evaluate(self, cfg: TrainConfig) -> dict[str, Any]:
        """Run the metrics, log them to metrics.jsonl and keep `checkpoints/best` up to date."""
        from ganforge.features import default_features, get_extractor
        from ganforge.metrics.evaluate import evaluate, parse_metrics

        features = cfg.eval_features or default_features(self.dataset.name, self.dataset.kind)
        if self._evaluator is None:
            self._evaluator = get_extractor(features, cfg.inception_weights)
        results = evaluate(self._sample_for_eval, self.dataset, n=cfg.eval_n, metrics=parse_metrics(cfg.eval_metrics),
                           features=features, device=self.device, progress=False, extractor=self._evaluator,
                           conditional=bool(self.classes))
        self.run.append_metrics({"step": self.step, "eval": results})
        key = self.best_metric
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
            path = ckpt.find_checkpoint(self.run.path)
            if path is None or path.name != ckpt.step_name(self.step):
                path = self.save()
            ckpt.keep_as_best(path, self.best)
        return results

    def fit(self) -> TrainResult:
        """Train until `config.steps`; Ctrl-C saves a checkpoint and returns with `interrupted=True`."""
        cfg = self.config
        if self.step >= cfg.steps:
            return TrainResult(self.run.path, self.step, False, (self.run.read_metrics() or [{}])[-1])
        if ckpt.find_checkpoint(self.run.path) is None:
            self.save()  # step 0: something good to roll back to
        batches = self._batches()
        self.generator.train()
        self.discriminator.train()
        last: dict[str, Any] = {}
        interrupted = False
        bar = tqdm(total=cfg.steps, initial=self.step, desc="training", unit="step", disable=not self.progress,
                   dynamic_ncols=True, smoothing=0.05, mininterval=0.1 if sys.stderr.isatty() else 10.0)
        busy = 0.0  # seconds of sampling, checkpoints and evaluation in the current log interval: not step time
        interval_start = time.perf_counter()
        with StopOnInterrupt() as stop, bar:
            while self.step < cfg.steps:
                logging_now = (self.step + 1) % cfg.log_every == 0 or self.step + 1 == cfg.steps
                if cfg.lr_schedule != "constant":
                    self._schedule_learning_rates()
                self.stat_sum += self.train_step(batches, measure=logging_now)
                self.stat_count += 1
                self.step += 1
                if self.core_share is not None:
                    self._share_cores()
                bar.update(1)
                finished = self.step == cfg.steps
                if logging_now:
                    last = self._log(time.perf_counter() - interval_start - busy)
                    interval_start, busy = time.perf_counter(), 0.0
                    if not self._diagnose(last):
                        batches = self._roll_back(cfg)
                        bar.reset(total=cfg.steps)
                        bar.update(self.step)
                        continue
                    postfix = {"D": f"{last['d_loss']:.3f}", "G": f"{last['g_loss']:.3f}",
                               "D(x)": f"{last['d_real']:.2f}", "D(G(z))": f"{last['d_fake']:.2f}"}
                    if self.monitor is not None and self.monitor.active:
                        postfix["!"] = ",".join(self.monitor.active)
                    bar.set_postfix(postfix)
                io_start = time.perf_counter()
                if self.step % cfg.sample_every == 0 or finished:
                    self.sample_grid()
                if self.step % cfg.checkpoint_every == 0 or finished or stop.requested:
                    if not self.weights_finite():
                        batches = self._roll_back(cfg)
                        continue
                    self.save()
                if cfg.eval_every and (self.step % cfg.eval_every == 0 or finished):
                    # on forked RNGs: building a feature network draws initial weights from the global RNG, which
                    # a resumed run (restored to the checkpoint before this evaluation) would not have done
                    cuda = [self.device] if self.device.type == "cuda" else []
                    with torch.random.fork_rng(devices=cuda):
                        self._evaluate(cfg)
                busy += time.perf_counter() - io_start
                if stop.requested and not finished:
                    interrupted = True
                    break
        return TrainResult(self.run.path, self.step, interrupted, last)
