"""Images and vectors: the task the shared loop (`training.loop`) trains, one step of which reads in one screen.

One step = `d_steps` discriminator updates, then one generator update. The generator update reuses the samples of
the last discriminator update (as in the reference DCGAN loop), so each step costs one generator forward pass. The
regularisation phase (R1, R2, the WGAN penalty) is kept apart from the main loss, as in stylegan2-ada's loss. The
data order is a pure function of the step, so a resumed run reads the batches an unbroken one would have.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganforge.config import RESUMABLE, TrainConfig
from ganforge.data import IMAGE, SEQUENCE, Dataset
from ganforge.data.export import save_samples
from ganforge.diagnostics.samples import DataHealth
from ganforge.losses import get_loss
from ganforge.models import build_models, resolve_model, sample_latent
from ganforge.models.conditional import GRID_COLUMNS, auxiliary_loss, fixed_labels
from ganforge.models.judging import JudgeBoth, judge
from ganforge.regularizers.ema import GeneratorEMA
from ganforge.training import checkpoint as ckpt
from ganforge.training.distributed import SINGLE, Processes, local_processes
from ganforge.training.evaluation import TrainingEvaluation
from ganforge.training.hardware import CoreShare, autocast_factory, pick_device, pick_precision, set_threads
from ganforge.training.precision_check import checked_precision
from ganforge.training.regularisation import Regularisation
from ganforge.training.run_folder import FINAL_ATTRIBUTES_FILE, FINAL_SERIES_FILE, RunFolder
from ganforge.training.task import Task, grad_norm
from ganforge.version import __version__

__all__ = ["SampleTask"]
log = logging.getLogger("ganforge")
DIVERSITY_SAMPLES = 1000  # all fixed points of vector data; images have 64


class SampleTask(Task):
    """A GAN on fixed-shape samples (images, vectors), unconditional or class-conditional."""

    kind = "tensor"
    stat_names = (*Task.stat_names, "rt")  # rt: E[sign D(x_real)], how sure D is of the real samples (ADA's r_t)
    resumable = "--steps, --data, --threads, --device and the logging, checkpoint and evaluation options"

    def __init__(self, config: TrainConfig, dataset: Dataset, run: RunFolder, processes: Processes = SINGLE):
        super().__init__()
        self.config, self.dataset, self.run, self.processes = config, dataset, run, processes
        self.kind = SEQUENCE if dataset.kind == SEQUENCE else "tensor"  # time series are a run kind of their own
        self.device = pick_device(config.device)
        if self.device.type == "cuda" and processes.active:
            self.device = torch.device("cuda", processes.local_rank)
        self.classes = dataset.num_classes if config.conditional else 0
        photos = dataset.sample_shape[-1] if dataset.kind == IMAGE and "files" in dataset.info else None
        auto = config.model == "auto"
        self.model_name, self.model_options = resolve_model(config, dataset.kind, self.classes, photos)
        if auto and photos is not None:
            log.info("model auto: %s for a folder of images at %d pixels (fastgan from 64 pixels on; --model dcgan "
                     "for the 2016 DCGAN)", self.model_name, photos)
        self.batch_size = config.batch_size
        self.threads = set_threads(config.threads, self.device, getattr(dataset, "workers", 0),
                                   sharers=local_processes() if processes.active else 1)
        # --threads 0 on a CPU: give cores up to other processes while they are busy (see CoreShare)
        self.core_share = CoreShare(self.threads) if config.threads == 0 and self.device.type == "cpu" \
            and self.threads > 1 and not processes.active else None
        self.loss = get_loss(config.loss)
        self.regularisation = Regularisation(config, self.loss, dataset, processes)
        self.ada = self.regularisation.ada
        if self.ada is not None:
            self.shown_stats = (*Task.shown_stats, ("augment_p", "p", ".2f"))

        torch.manual_seed(config.seed)
        generator, discriminator = build_models(self.model_name, dataset.sample_shape, self.model_options,
                                                pack=config.pack, spectral_norm=config.spectral_norm,
                                                classes=self.classes, cond=config.cond, layout=dataset.codec.layout)
        # channels_last lets oneDNN/cuDNN pick their fastest convolution kernels for image models.
        self.memory_format = torch.channels_last if dataset.kind == IMAGE else torch.contiguous_format
        self.generator = generator.to(self.device, memory_format=self.memory_format)
        self.discriminator = discriminator.to(self.device, memory_format=self.memory_format)
        self.ema = GeneratorEMA(self.generator, config.ema) if config.ema > 0 else None
        # the passes whose gradients are averaged over the processes (the networks themselves with one process)
        self.generator_pass = processes.wrap(self.generator, self.device)
        self.discriminator_pass = processes.wrap(JudgeBoth(self.discriminator), self.device)
        if processes.active:  # augmentations and crops differ between the ranks (the weights above do not)
            torch.manual_seed(config.seed * processes.world + processes.rank)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas_g)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=config.betas_d)

        latent_dim = self.model_options["latent_dim"]
        self.noise_rng = torch.Generator().manual_seed(config.seed + 1)
        fixed_rng = torch.Generator().manual_seed(config.seed + 2)
        self.fixed_noise = sample_latent(config.latent, config.n_fixed_samples, latent_dim, fixed_rng)
        self.fixed_labels = fixed_labels(config.n_fixed_samples, self.classes) if self.classes else None
        self.label_frequencies = dataset.class_frequencies().float() if self.classes else None
        self.precision = checked_precision(pick_precision(config.precision, self.device), config.precision, self)
        self.autocast = autocast_factory(self.precision, self.device)
        self.reference: Tensor | None = None
        self.data_health = DataHealth(dataset, bool(self.classes))
        self._batches: Iterator[Any] = iter(())
        self.evaluation = TrainingEvaluation(config, dataset, bool(self.classes)) if config.eval_every else None
        self.sinks: Any = None  # the run's report and TensorBoard writer (kinds.tensor), when it has them
        self.best_metric = self.evaluation.best_metric if self.evaluation else None

    def describe(self) -> dict[str, Any]:
        """Everything `config.json` records: the resolved configuration, model, data codec, hardware choices."""
        return {
            "ganforge": __version__, "kind": self.kind,
            "config": self.config.to_json(),
            "model": {"name": self.model_name, "options": self.model_options, "pack": self.config.pack,
                      "spectral_norm": self.config.spectral_norm, "ema": self.ema is not None,
                      "conditional": self._conditioning()},
            "augmentation": None if self.ada is None else {"adaptive": self.ada.adaptive},
            "data": self._data_identity(),
            "runtime": {"device": str(self.device), "precision": self.precision, "threads": self.threads,
                        "threads_adapt": self.core_share is not None, "processes": self.processes.world},
        }

    def _conditioning(self) -> dict[str, Any] | None:
        """How the run is conditioned, and the class of each row of its sample grids."""
        rows = self.fixed_labels[::GRID_COLUMNS].tolist() if self.classes else []
        return {"method": self.config.cond, "classes": self.classes,
                "grid_rows": [self.dataset.class_names[i] for i in rows]} if self.classes else None

    def _data_identity(self) -> dict[str, Any]:
        return {"name": self.dataset.name, "size": len(self.dataset), **self.dataset.codec.to_json(),
                "classes": self.dataset.class_names if self.classes else None,
                "class_counts": self.dataset.class_counts() if self.classes else None}

    # ----- what a checkpoint holds -----------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        modules = {"generator": self.generator, "discriminator": self.discriminator}
        if self.ema is not None:
            modules["generator_ema"] = self.ema.average
        return modules

    def trained_modules(self) -> list[torch.nn.Module]:
        return [self.generator, self.discriminator]

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def generators(self) -> dict[str, torch.Generator]:
        return {"noise": self.noise_rng}

    def tensors(self) -> dict[str, Tensor]:
        return {"fixed_noise": self.fixed_noise}

    def load_tensors(self, tensors: dict[str, Tensor]) -> None:
        self.fixed_noise = tensors["fixed_noise"]

    def state_dict(self) -> dict[str, Any]:
        return {"ada": self.ada.state_dict()} if self.ada is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ada is not None and "ada" in state:
            self.ada.load_state_dict(state["ada"])

    def identity(self) -> dict[str, Any]:
        data = {k: v for k, v in self._data_identity().items() if k != "name"}  # moved data keeps its identity
        options = {k: v for k, v in self.config.to_json().items() if k not in RESUMABLE}
        if options.get("augment_p") == "off":  # as checkpoints from before adaptive augmentation say it: not at all
            del options["augment_p"]
        if self.processes.active:  # the data order and batch depend on the number of processes
            options["processes"] = self.processes.world
        return {"options": options, "data": data}

    def log_fields(self, step: int) -> dict[str, Any]:
        return {"augment_p": self.ada.p} if self.ada is not None else {}

    def augments(self) -> bool:
        """Whether what D sees is augmented (ADA above 0, or DiffAugment)."""
        return self.regularisation.augments()

    # ----- one step --------------------------------------------------------------------------------------------
    def start(self, step: int) -> None:
        """The data stream from `step` on: samples, or (samples, labels) in a conditional run."""
        cfg = self.config
        self.generator.train()
        self.discriminator.train()
        self._batches = self.dataset.batches(cfg.batch_size, cfg.seed, step * cfg.d_steps, self.device,
                                             with_labels=bool(self.classes), rank=self.processes.rank,
                                             world=self.processes.world)

    def _own_part(self, batch: Tensor) -> Tensor:
        """This process's slice of a global batch (all of it with one process)."""
        n = len(batch) // self.processes.world
        return batch[self.processes.rank * n : (self.processes.rank + 1) * n]

    def _noise(self, n: int) -> Tensor:
        """Noise for this process's `n` samples: its slice of the global batch's noise, which every rank draws."""
        z = sample_latent(self.config.latent, n * self.processes.world, self.model_options["latent_dim"],
                          self.noise_rng)
        return self._own_part(z).to(self.device, non_blocking=True)

    def _fake_labels(self, n: int) -> Tensor | None:
        """Classes for generated samples, drawn by their frequency in the data (as stylegan2-ada does)."""
        if self.label_frequencies is None:
            return None
        labels = torch.multinomial(self.label_frequencies, n * self.processes.world, replacement=True,
                                   generator=self.noise_rng)
        return self._own_part(labels).to(self.device, non_blocking=True)

    def generate(self, generator: torch.nn.Module, z: Tensor, labels: Tensor | None) -> Tensor:
        """G(z), or G(z, y) for a conditional run."""
        return generator(z) if labels is None else generator(z, labels)

    def judge(self, x: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """(D's logits, ACGAN class logits or None): D(x), or D(x, y) for a conditional run."""
        return judge(self.discriminator, x, labels)

    def train_step(self, step: int, measure: bool) -> Tensor:
        """`d_steps` discriminator updates, then one generator update; returns detached step statistics."""
        generator, discriminator, loss, cfg = self.generator, self.discriminator, self.loss, self.config
        regularise = step % cfg.lazy_every == 0  # lazy regularisation: every k steps, scaled by k
        real_labels = fake_labels = None
        for i in range(cfg.d_steps):
            real = next(self._batches)
            if self.classes:
                real, real_labels = real
            real = real.contiguous(memory_format=self.memory_format)
            z = self._noise(real.shape[0])
            fake_labels = self._fake_labels(real.shape[0])
            last = i == cfg.d_steps - 1
            with self.autocast(), torch.set_grad_enabled(last):
                fake = self.generate(self.generator_pass, z, fake_labels)  # kept with its graph on the last pass, for G
            real_in = self.regularisation.view(real, step)
            fake_in = self.regularisation.view(fake.detach(), step)
            if regularise and cfg.r1:
                real_in = real_in.detach().requires_grad_(True)
            if regularise and cfg.r2:
                fake_in = fake_in.detach().requires_grad_(True)
            with self.autocast():
                real_logits, real_classes, fake_logits, reconstruction = self.discriminator_pass(
                    real_in, fake_in, real_labels, fake_labels)
                d_loss = loss.discriminator_loss(real_logits.float(), fake_logits.float())
                for term in reconstruction:
                    d_loss = d_loss + term
                if real_classes is not None:  # ACGAN: D's classifier learns the real samples' classes
                    d_loss = d_loss + auxiliary_loss(real_classes, real_labels)
                if regularise:
                    d_loss = d_loss + self.regularisation.penalties(self.judge, real_labels, real_in, fake_in,
                                                                    real_logits, fake_logits)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            if measure and last:
                d_norm = grad_norm(discriminator)
            self.opt_d.step()
            if self.ada is not None:
                self.ada.observe(real_logits, images=real.shape[0])

        discriminator.requires_grad_(False)  # no weight gradients for D during G's update
        with self.autocast():
            fake_logits_g, fake_classes = self.judge(self.regularisation.view(fake, step), fake_labels)
            real_logits_g = None
            if loss.generator_needs_real:
                real_logits_g = self.judge(self.regularisation.view(real, step), real_labels)[0].float()
            g_loss = loss.generator_loss(fake_logits_g.float(), real_logits_g)
            if fake_classes is not None:  # ACGAN: G makes samples D's classifier files under the class asked for
                g_loss = g_loss + auxiliary_loss(fake_classes, fake_labels)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        if measure:
            self.grad_norms = (grad_norm(generator), d_norm)
        self.opt_g.step()
        # batch-norm statistics (D's moved in G's pass too) alike on every rank, before the EMA copies G's
        self.processes.average_buffers(generator)
        self.processes.average_buffers(discriminator)
        discriminator.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(generator)
        with torch.no_grad():
            return torch.stack([d_loss.detach(), g_loss.detach(), torch.sigmoid(real_logits.float()).mean(),
                                torch.sigmoid(fake_logits.float()).mean(), torch.sign(real_logits.float()).mean()])

    # ----- samples, health, evaluation -------------------------------------------------------------------------
    @property
    def sampling_generator(self) -> torch.nn.Module:
        """The generator used for grids and evaluation: the EMA average when there is one."""
        return self.ema.average if self.ema is not None else self.generator

    @torch.no_grad()
    def _fixed(self, generator: torch.nn.Module, n: int | None = None) -> Tensor:
        """G on (the first `n` of) the fixed noise, in eval mode so that batch norm is stable."""
        labels = None if self.fixed_labels is None else self.fixed_labels[:n].to(self.device)
        generator.eval()
        with self.autocast():
            fake = self.generate(generator, self.fixed_noise[:n].to(self.device), labels).float()
        self.generator.train()
        return fake

    def preview(self, step: int) -> Path:
        """Save `samples/step_NNNNNN.png` from the fixed noise batch."""
        user = self.dataset.codec.decode(self._fixed(self.sampling_generator))
        if self.dataset.kind != IMAGE and self.reference is None:
            self.reference = self.dataset.real_samples(2000, seed=0)
        path = self.run.samples / f"step_{step:06d}.png"
        columns = GRID_COLUMNS if self.classes else None  # one class per row
        save_samples(user, self.dataset.kind, path, reference=self.reference, columns=columns,
                     names=self.dataset.codec.columns)
        if self.sinks is not None:
            self.sinks.grid(step, path)
        return path

    def finish(self, step: int) -> None:
        if self.dataset.kind == SEQUENCE and self.processes.rank == 0:  # what the report compares with real series
            raw = self.sample(300, seed=0, decoded=False)
            ckpt.atomic_save_array(self.run.samples / FINAL_SERIES_FILE, self.dataset.codec.decode(raw).numpy())
            if self.dataset.codec.layout is not None and self.dataset.codec.layout.statics:
                ckpt.atomic_write_text(self.run.samples / FINAL_ATTRIBUTES_FILE,
                                       json.dumps(self.dataset.codec.decode_statics(raw)))
        if self.sinks is not None:
            self.sinks.finish()

    def fixed_samples(self) -> Tensor:
        return self._fixed(self.generator, DIVERSITY_SAMPLES).flatten(1).cpu()

    def real_samples(self, n: int) -> Tensor:
        if self.dataset.codec.layout is not None:  # every channel, as the fixed samples have them
            return self.dataset.model_samples(n, seed=1).flatten(1)
        return self.dataset.codec.encode(self.dataset.real_samples(n, seed=1)).flatten(1)

    def more_health(self, fake: Tensor) -> dict[str, Any]:
        """Mode reach, per-class spread and leakage, time-series change and order (`diagnostics.samples`)."""
        return self.data_health.judge(fake, self.fixed_labels[: len(fake)] if self.classes else None)

    @torch.no_grad()
    def sample(self, n: int, seed: int, labels: Tensor | None = None, decoded: bool = True) -> Tensor:
        """`n` samples in the user's form from the sampling generator (of the classes `labels`), from noise of
        their own seed; in model space, every channel, on the CPU, unless `decoded`."""
        z = sample_latent(self.config.latent, n, self.model_options["latent_dim"],
                          torch.Generator().manual_seed(seed + 1))
        generator = self.sampling_generator
        generator.eval()
        with self.autocast():
            parts = [self.generate(generator, z[i : i + 500].to(self.device),
                                   None if labels is None else labels[i : i + 500].to(self.device)).float().cpu()
                     for i in range(0, n, 500)]
        self.generator.train()
        raw = torch.cat(parts)
        return self.dataset.codec.decode(raw) if decoded else raw

    def evaluate(self, step: int) -> dict[str, Any]:
        return self.evaluation.run(self.sample, self.device)
