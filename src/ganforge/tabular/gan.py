"""`TableGAN`: fit a conditional tabular GAN to a DataFrame, sample rows (optionally `where` a column has a value),
save and load it as safetensors + JSON.

    m = TableGAN(epochs=300).fit(df)
    m.sample(1000, where={"churned": "yes"}, seed=0)
    m.save("model/"); TableGAN.load("model/")

Losses (WGAN-GP, as CTGAN): the discriminator minimises D(fake) − D(real) + λ·(‖∇D‖ − 1)²; the generator minimises
−D(fake) plus the cross-entropy between the conditional vector and the category it generated for that column.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn
from tqdm.auto import tqdm

from ganforge.errors import GanforgeError
from ganforge.regularizers.ema import GeneratorEMA
from ganforge.regularizers.penalties import wgan_gradient_penalty
from ganforge.tabular.model import (
    ConditionSampler,
    OutputLayout,
    TableDiscriminator,
    TableGenerator,
    TargetHead,
    activate,
    group_logsumexp,
)
from ganforge.tabular.quality import label
from ganforge.tabular.schema import infer_columns
from ganforge.tabular.transform import Span, TableTransformer
from ganforge.training import checkpoint as ckpt
from ganforge.training.hardware import autocast_factory, pick_precision
from ganforge.training.interrupt import StopOnInterrupt

# Training length when `epochs` is not given: PASSES_PER_ROOT_ROW·√rows passes over the table (a bigger table holds
# more detail to learn), at most MAX_EPOCHS, and on small tables as many as TRAINING_STEPS steps need. Measured on
# bench/tabular.py (3 seeds; batches of 250 at a learning rate of 4e-4): fair (5,092 rows) with `--target` reached
# quality 0.903 and AUC 0.729 in 60 passes (1,260 steps), where batches of 500 at 2e-4 reached 0.899 and 0.719 in
# 128 passes (1,408 steps) and took 1.5x as long; randhie (16,152 rows) needed more: R² 0.030 in 60 passes, 0.044 in
# 100. The cap is the earlier default for large tables (tables beyond 20,000 rows were not measured).
PASSES_PER_ROOT_ROW = 0.85  # fair: 61 passes, randhie: 109
# Batch size when not given: small tables need the steps of small batches (fair, --target, 3 seeds, learning rate
# 4e-4: batches of 250 reached AUC 0.729 in 60 passes; batches of 500, 0.723 in 90), while a large table gets steps
# enough from its size and a batch of 500 costs less per row (randhie: R² 0.049 in 120 passes of 500 at 4e-4, in the
# time that 100 passes of 250 took, R² 0.044).
STEPS_PER_PASS, MIN_BATCH, MAX_BATCH = 20, 250, 500
MAX_EPOCHS = 120
TRAINING_STEPS = 1_250
FORMAT = "ganforge-table-2"  # 2 added dropout, gp_every and column time zones; version 1 files still load
READABLE_FORMATS = ("ganforge-table-1", FORMAT)
MODEL_FILE, META_FILE = "table_model.safetensors", "table.json"


@dataclass
class TableGANConfig:
    """Options of the tabular GAN (CTGAN's published settings unless a measurement said otherwise).

    Measured on statsmodels' `fair` (bench/tabular.py): sampling categories from the softmax instead of taking the
    likeliest raised quality at 40 epochs from 0.62 to 0.76; a generator EMA of 0.995 raised it at 100 epochs from
    0.83 to 0.85 (0.999 lagged: 0.80); 200 epochs with the EMA reached 0.93, where CTGAN's 300 reach 0.84. bf16
    autocast on an AMX CPU ran 1.5× faster at the same quality (0.932 vs 0.929). Packs of 5 rows instead of 10: AUC
    0.705 vs 0.691 at equal quality (2 seeds; 2 rows: quality 0.949 but AUC 0.695; 1 row: 2× slower). 300 epochs
    instead of 200 gained little (0.936 / AUC 0.693); see PASSES_PER_ROOT_ROW.
    """

    epochs: int | None = None  # None: about 0.85·√rows passes, more on small tables (see epochs_for)
    batch_size: int | None = None  # None: rows/20 (20 steps a pass), between 250 and 500; see batch_for
    latent_dim: int = 128
    generator_dims: tuple[int, ...] = (256, 256)
    discriminator_dims: tuple[int, ...] = (256, 256)
    pac: int = 5  # rows per critic pack; 5 beat CTGAN's 10 on efficacy (fair: AUC 0.705 vs 0.691)
    dropout: float = 0.5  # in the critic's hidden layers
    lr_g: float = 4e-4  # CTGAN's 2e-4 needed twice the steps for the same efficacy (fair, 90 epochs of 500 rows:
    lr_d: float = 4e-4  # AUC 0.703 at 2e-4, 0.712 at 3e-4, 0.723 at 4e-4)
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 1e-6
    gp: float = 10.0
    gp_every: int = 2  # lazy penalty every k-th critic update, weight k·gp (as StyleGAN2's lazy R1): 2 was faster
    # (5 % alone, 17 % on a loaded CPU) at equal quality and efficacy on fair (with --target: 0.889 / AUC 0.723 vs
    # 0.888 / 0.725); 4 lost AUC (0.710)
    d_steps: int = 1
    tau: float = 0.2
    ema: float = 0.995  # generator weight average used for sampling (0 = off)
    precision: str = "auto"  # bf16 autocast where the CPU has AMX, else fp32; or name one
    seed: int = 0
    categorical: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    target: str | None = None  # a column to keep predictable from the others (auxiliary model, CTAB-GAN)
    target_weight: float = 0.5  # fair, 2 seeds: 0.5 kept more quality than 1.0 (0.902 vs 0.888) at equal AUC (0.726)

    def validate(self) -> TableGANConfig:
        """Reject impossible values by name."""
        for name in ("epochs", "batch_size", "latent_dim", "pac", "d_steps", "gp_every"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise GanforgeError(f"option {name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema < 1.0:
            raise GanforgeError(f"option ema must be in [0, 1) (0 = off), got {self.ema}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise GanforgeError(f"option precision must be auto, fp32 or bf16, got {self.precision!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise GanforgeError(f"option dropout must be in [0, 1), got {self.dropout}")
        if self.target_weight < 0:
            raise GanforgeError(f"option target_weight must be 0 or more, got {self.target_weight}")
        if self.gp < 0:
            raise GanforgeError(f"option gp must be 0 (off) or more, got {self.gp}")
        for name in ("lr_g", "lr_d", "tau"):
            if not getattr(self, name) > 0:
                raise GanforgeError(f"option {name} must be positive, got {getattr(self, name)}")
        return self

    def batch_for(self, rows: int) -> int:
        """The batch used on a table of `rows` rows: `batch_size`, or when it is None, about 1/`STEPS_PER_PASS` of
        the rows between `MIN_BATCH` and `MAX_BATCH`; at most the rows, a multiple of `pac`."""
        size = self.batch_size or min(MAX_BATCH, max(MIN_BATCH, rows // STEPS_PER_PASS))
        return max(self.pac, min(size, rows) // self.pac * self.pac)

    def steps_per_epoch(self, rows: int) -> int:
        """Generator steps in one pass over `rows` rows."""
        return max(1, math.ceil(rows / self.batch_for(rows)))

    def epochs_for(self, rows: int) -> int:
        """`epochs`, or when it is None, about `PASSES_PER_ROOT_ROW`·√rows passes (at most `MAX_EPOCHS`), or more
        on small tables: enough passes for `TRAINING_STEPS` steps (a GAN needs steps to learn, whatever the table's
        size)."""
        if self.epochs is not None:
            return self.epochs
        passes = min(MAX_EPOCHS, math.ceil(PASSES_PER_ROOT_ROW * math.sqrt(rows)))
        return max(passes, math.ceil(TRAINING_STEPS / self.steps_per_epoch(rows)))


class TableGAN:
    """A conditional GAN for tables with mixed column types."""

    def __init__(self, config: TableGANConfig | None = None, **options: Any):
        fields = {f.name for f in dataclasses.fields(TableGANConfig)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise GanforgeError(f"unknown TableGAN option(s) {', '.join(unknown)}; expected some of "
                                f"{', '.join(sorted(fields))}")
        self.config = dataclasses.replace(config or TableGANConfig(), **options).validate()
        self.transformer: TableTransformer | None = None
        self.generator: TableGenerator | None = None
        self.sampler: ConditionSampler | None = None
        self.history: list[dict[str, float]] = []
        self._head: TargetHead | None = None

    # ----------------------------------------------------------------------------------------------- fitting
    def fit(self, frame: pd.DataFrame, progress: bool = False, source: str = "table",
            on_epoch: Callable[[dict[str, float]], None] | None = None, checkpoints: str | Path | None = None,
            checkpoint_every: int = 20, keep_checkpoints: int = 2, resume: bool = False) -> TableGAN:
        """Learn the table; the same seed and data give the same model (and so the same sampled rows).

        With `checkpoints` (a folder), the whole training state is saved there atomically every `checkpoint_every`
        epochs and at the end (the newest `keep_checkpoints` are kept). Ctrl-C finishes the current step, saves, and
        raises KeyboardInterrupt. `resume=True` continues from the newest checkpoint there exactly as if the fit had
        never stopped (`epochs` is the new total; on the same machine and thread count, bit for bit).
        """
        cfg = self.config
        if checkpoint_every < 1 or keep_checkpoints < 1:
            raise GanforgeError(f"checkpoint_every and keep_checkpoints must be at least 1, got {checkpoint_every} "
                                f"and {keep_checkpoints}")
        if resume and checkpoints is None:
            raise GanforgeError("resume=True needs the checkpoints folder to resume from")
        folder = Path(checkpoints) if checkpoints is not None else None
        if folder is not None and not resume and ckpt.find_checkpoint_in(folder) is not None:
            raise GanforgeError(f"{folder} already holds checkpoints of another fit; resume it or choose another "
                                "folder")
        frame = frame.rename(columns=str)  # names are stored as text (JSON), so a column named 0 becomes "0"
        fingerprint = _fingerprint(frame)
        found, saved = self._open_checkpoint(folder, fingerprint) if resume else (None, None)
        torch.manual_seed(cfg.seed)  # dropout and Gumbel noise draw from the global generator
        if saved is not None:  # the encoding the checkpoint's weights were trained on, not a refit
            self.transformer = TableTransformer.from_json(saved["transformer"])
        else:
            columns = infer_columns(frame, list(cfg.categorical), list(cfg.ignore), source)
            self.transformer = TableTransformer.fit(frame, columns, cfg.seed)
        offsets, codes = (torch.from_numpy(a) for a in self.transformer.encode(frame, cfg.seed))
        spans = self.transformer.condition_spans()
        self.sampler = ConditionSampler(codes, spans) if spans else None
        self.layout = OutputLayout(self.transformer.spans)
        # the generator's logits for the conditioned columns, and which column each belongs to (condition loss)
        self._condition_positions, self._condition_group = _condition_layout(spans)
        cond_width = self.sampler.width if self.sampler else 0
        width = self.transformer.width
        self.generator = TableGenerator(cfg.latent_dim, cond_width, cfg.generator_dims, width)
        self._generator_weights = list(self.generator.parameters())
        discriminator = TableDiscriminator(width + cond_width, cfg.discriminator_dims, cfg.pac, cfg.dropout)
        # fused: one kernel updates every tensor (1.3 → 0.3 ms per critic step on `fair`)
        opt_g = torch.optim.Adam(self._generator_weights, cfg.lr_g, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                 fused=True)
        opt_d = torch.optim.Adam(discriminator.parameters(), cfg.lr_d, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                 fused=True)
        self._head = self._target_head()
        opt_head = torch.optim.Adam(self._head.parameters(), cfg.lr_d, betas=cfg.betas, fused=True) \
            if self._head is not None else None
        batch, steps_per_epoch, epochs = cfg.batch_for(len(frame)), cfg.steps_per_epoch(len(frame)), \
            cfg.epochs_for(len(frame))
        rng = torch.Generator().manual_seed(cfg.seed)
        self._critic_updates = 0
        self.generator.train()
        average = GeneratorEMA(self.generator, cfg.ema) if cfg.ema > 0 else None
        state = _FitState(self.generator, discriminator, average, opt_g, opt_d, rng, self._head, opt_head)
        step, sums = 0, {"d_loss": 0.0, "g_loss": 0.0, "cond_loss": 0.0}
        if self._head is not None:
            sums["target_loss"] = 0.0
        total = epochs * steps_per_epoch
        if saved is not None:
            step, sums = self._restore(state, found, saved, total, epochs)
        saved_step = step if saved is not None else -1

        def save() -> None:
            nonlocal saved_step
            if folder is not None and step != saved_step:
                self._save_state(state, folder, fingerprint, step, steps_per_epoch, sums, keep_checkpoints)
                saved_step = step

        autocast = autocast_factory(pick_precision(cfg.precision, torch.device("cpu")), torch.device("cpu"))
        bar = tqdm(total=epochs, initial=step // steps_per_epoch, desc="fitting table", unit="epoch",
                   disable=not progress)
        started = time.perf_counter()
        # Ctrl-C is only noted during a step: the loop ends at the next step boundary, where the state is whole
        with StopOnInterrupt() as stop, bar:
            while step < total:
                with autocast():
                    losses = self._train_step(discriminator, opt_d, opt_g, offsets, codes, batch, rng, opt_head)
                if average is not None:
                    average.update(self.generator)
                for key, value in zip(sums, losses, strict=True):
                    sums[key] += value
                step += 1
                if step % steps_per_epoch == 0:
                    epoch = step // steps_per_epoch
                    record = {"epoch": epoch, **{k: v / steps_per_epoch for k, v in sums.items()},
                              "seconds": round(time.perf_counter() - started, 4)}
                    if not all(math.isfinite(v) for v in record.values()):
                        raise GanforgeError(f"training diverged at epoch {epoch} (a loss became {record}); try a "
                                            "lower learning rate")
                    self.history.append(record)
                    sums, started = dict.fromkeys(sums, 0.0), time.perf_counter()
                    if on_epoch:
                        on_epoch(record)
                    bar.update(1)
                    bar.set_postfix(d=f"{record['d_loss']:.3f}", g=f"{record['g_loss']:.3f}")
                    if epoch % checkpoint_every == 0 or step == total:
                        save()
                if stop.requested:
                    save()
                    raise KeyboardInterrupt
        if average is not None:  # the averaged weights are the model that is kept and sampled from
            self.generator.load_state_dict(average.average.state_dict())
        self.generator.eval()
        return self

    def _comparable_config(self) -> dict[str, Any]:
        """The options a checkpoint must share with the fit that resumes it (all but the total of epochs)."""
        config = ckpt.plain_json(dataclasses.asdict(self.config))
        config.pop("epochs")
        return config

    def _save_state(self, state: _FitState, folder: Path, fingerprint: str, step: int, steps_per_epoch: int,
                    sums: dict[str, float], keep: int) -> None:
        """Everything needed to go on exactly: weights, optimizer moments, random states, counters, the encoding."""
        training = {"rng.batches": state.rng.get_state(), "rng.global": torch.get_rng_state()}
        opt_meta = {}
        for name, optimizer in state.optimizers().items():
            tensors, opt_meta[name] = ckpt.optimizer_to_tensors(optimizer, name)
            training.update(tensors)
        ckpt.save_checkpoint(folder, step, ckpt.module_tensors(state.modules()), training, ckpt.plain_json({
            "kind": "table", "step": step, "epoch": step / steps_per_epoch, "data": fingerprint,
            "config": self._comparable_config(), "transformer": self.transformer.to_json(), "history": self.history,
            "partial_sums": sums, "critic_updates": self._critic_updates, "optimizers": opt_meta}), keep=keep)

    def _open_checkpoint(self, folder: Path, fingerprint: str) -> tuple[Path, dict[str, Any]]:
        """The newest checkpoint in `folder` and its state, refused by name if it cannot continue this fit."""
        found = ckpt.find_checkpoint_in(folder)
        if found is None:
            raise GanforgeError(f"no complete checkpoint in {folder} to resume from")
        saved = ckpt.read_checkpoint_state(found)
        if saved.get("kind") != "table":
            raise GanforgeError(f"checkpoint {found} is not a TableGAN checkpoint")
        changed = sorted(k for k, v in self._comparable_config().items() if saved["config"].get(k) != v)
        if changed:
            raise GanforgeError(f"checkpoint {found} was made with other options ({', '.join(changed)}); only "
                                "--epochs may change when resuming")
        if saved["data"] != fingerprint:
            raise GanforgeError(f"checkpoint {found} was made on another table (its rows or columns differ from this "
                                "one); resume with the table it was trained on")
        return found, saved

    def _restore(self, state: _FitState, found: Path, saved: dict[str, Any], total: int, epochs: int
                 ) -> tuple[int, dict[str, float]]:
        """Load the checkpoint into `state`; the step and the current epoch's loss sums."""
        step = int(saved["step"])
        if step > total:
            raise GanforgeError(f"the fit is already at step {step:,}, past the {total:,} that --epochs "
                                f"{epochs} asks for; --epochs is the new total")
        models, training, _ = ckpt.load_checkpoint(found)
        ckpt.load_module_tensors(state.modules(), models, found)
        for name, optimizer in state.optimizers().items():
            ckpt.optimizer_from_tensors(optimizer, name, training, saved["optimizers"][name])
        state.rng.set_state(training["rng.batches"])
        torch.set_rng_state(training["rng.global"])
        self.history = list(saved["history"])
        self._critic_updates = int(saved["critic_updates"])
        # a sum that was not finite is stored as null: it stays not finite, so its epoch reports the divergence
        return step, {k: math.nan if v is None else float(v) for k, v in saved["partial_sums"].items()}

    def _fake(self, n: int, cond: Tensor, rng: torch.Generator, sample: bool = False) -> tuple[Tensor, Tensor]:
        """Raw generator output and activated rows (`sample`: categories drawn, as when producing rows)."""
        z = torch.randn(n, self.config.latent_dim, generator=rng)
        raw = self.generator(torch.cat([z, cond], 1) if cond.shape[1] else z)
        return raw, activate(raw, self.layout, self.config.tau, rng if sample else None)

    def _conditions(self, n: int, rng: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if self.sampler is None:
            return torch.zeros(n, 0), torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long), None
        return self.sampler.training_batch(n, rng)

    def _real_and_conditions(self, offsets: Tensor, codes: Tensor, batch: int, rng: torch.Generator
                             ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Conditional vectors (with each one's column and category) and real rows that satisfy them."""
        cond, column, category, rows = self._conditions(batch, rng)
        if rows is None:
            rows = torch.randint(len(offsets), (batch,), generator=rng)
        return torch.cat([self.transformer.expand(offsets[rows], codes[rows]), cond], 1), cond, column, category

    def _critic_loss(self, discriminator: nn.Module, real: Tensor, fake: Tensor, rng: torch.Generator) -> Tensor:
        """WGAN loss with the gradient penalty on points between real and fake packs (every `gp_every`-th call)."""
        batch, pac = len(real), self.config.pac
        self._critic_updates += 1
        scores = discriminator(torch.cat([real, fake]))  # one pass over both halves (packs never straddle them)
        loss = scores[batch // pac :].mean() - scores[: batch // pac].mean()
        if self.config.gp == 0 or self._critic_updates % self.config.gp_every:
            return loss
        penalty = wgan_gradient_penalty(discriminator, real, fake, pack=pac, generator=rng)
        return loss + self.config.gp * self.config.gp_every * penalty

    def _train_step(self, discriminator: nn.Module, opt_d: torch.optim.Optimizer, opt_g: torch.optim.Optimizer,
                    offsets: Tensor, codes: Tensor, batch: int, rng: torch.Generator,
                    opt_head: torch.optim.Optimizer | None = None) -> tuple[float, ...]:
        """`d_steps` critic updates, then one generator update on the fake rows of the last critic update
        (generated once, with gradients, instead of twice)."""
        for _ in range(self.config.d_steps - 1):
            real, cond, _, _ = self._real_and_conditions(offsets, codes, batch, rng)
            with torch.no_grad():
                _, fake = self._fake(batch, cond, rng)
            loss = self._critic_loss(discriminator, real, torch.cat([fake, cond], 1), rng)
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
            _forget_autocast_weights()
        real, cond, column, category = self._real_and_conditions(offsets, codes, batch, rng)
        raw, fake = self._fake(batch, cond, rng)
        fake = torch.cat([fake, cond], 1)
        d_loss = self._critic_loss(discriminator, real, fake.detach(), rng)
        opt_d.zero_grad(set_to_none=True)
        if self._head is None:
            d_loss.backward()
        else:  # the target's model learns from real rows only; one backward pass serves both (separate graphs)
            head_loss = self._head.loss(real[:, : self.transformer.width])
            opt_head.zero_grad(set_to_none=True)
            (d_loss + head_loss).backward()
            opt_head.step()
        opt_d.step()
        _forget_autocast_weights()

        adversarial = -discriminator(fake).mean()
        cond_loss = self._condition_loss(raw, column, category)
        generator_loss = adversarial + cond_loss
        if self._head is not None:
            target_loss = self._head.loss(fake[:, : self.transformer.width])
            generator_loss = generator_loss + self.config.target_weight * target_loss
        opt_g.zero_grad(set_to_none=True)
        # gradients for the generator's weights only: none are computed for the critic's or the head's
        generator_loss.backward(inputs=self._generator_weights)
        opt_g.step()
        if self._head is not None:
            return d_loss.item(), adversarial.item(), cond_loss.item(), target_loss.item()
        return d_loss.item(), adversarial.item(), cond_loss.item()

    def _target_head(self) -> TargetHead | None:
        """The auxiliary model of `config.target`, or None."""
        name = self.config.target
        if not name:
            return None
        names = [spec.name for spec in self.transformer.columns]
        if name not in names:
            raise GanforgeError(f"option target {name!r} is not a modelled column; columns are {', '.join(names)}")
        index = names.index(name)
        if self.transformer.columns[index].kind not in ("categorical", "boolean"):
            raise GanforgeError(f"option target {name!r} is {self.transformer.columns[index].kind}; the target model "
                                "works on categorical and boolean columns only")
        return TargetHead(self.transformer.spans, index)

    def _condition_loss(self, raw: Tensor, column: Tensor, category: Tensor) -> Tensor:
        """Cross-entropy between the category each conditional vector asked for and what the generator made."""
        if self.sampler is None:
            return torch.zeros(())
        logits = raw[:, self._condition_positions].float()
        every = torch.arange(len(raw))
        normaliser = group_logsumexp(logits, self._condition_group, len(self.sampler.spans))[every, column]
        return (normaliser - logits[every, self.sampler.starts[column] + category]).mean()

    # ---------------------------------------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(self, n: int, where: dict[str, Any] | None = None, seed: int = 0, batch_size: int = 10_000,
               progress: bool = False) -> pd.DataFrame:
        """`n` synthetic rows with the training table's columns and dtypes.

        `where={"column": value}` makes every row have that value in that categorical column, through the
        conditional vector (the rows are drawn from the model's distribution given that value; nothing is rejected).
        """
        self._require_fitted()
        if n < 1:
            raise GanforgeError(f"option --n must be at least 1, got {n}")
        condition = self._where(where or {})
        rng = torch.Generator().manual_seed(seed)
        parts = []
        for start in tqdm(range(0, n, batch_size), desc="sampling rows", unit="batch",
                          disable=not progress or n <= batch_size, leave=False):
            count = min(batch_size, n - start)
            if condition is not None:
                span_index, code, _ = condition
                cond = self.sampler.vectors(torch.full((count,), span_index), torch.full((count,), code))
            elif self.sampler is not None:
                cond = self.sampler.frequency_batch(count, rng)
            else:
                cond = torch.zeros(count, 0)
            _, rows = self._fake(count, cond, rng, sample=True)
            parts.append(self.transformer.decode(rows, seed=seed * 1_000_003 + start))
        table = pd.concat(parts, ignore_index=True)
        if condition is not None:
            (name,) = where
            table[name] = pd.Series([condition[2]] * n, dtype=table[name].dtype)  # exact, even where G strayed
        return table

    def _where(self, where: dict[str, Any]) -> tuple[int, int, Any] | None:
        """(condition span, its code, the training value) for a `where` of one column=value."""
        if not where:
            return None
        if len(where) > 1:
            raise GanforgeError(f"--where takes one column=value condition, got {len(where)}")
        (name, value), = where.items()
        spans = self.transformer.condition_spans()
        for index, span in enumerate(spans):
            spec = self.transformer.columns[span.column]
            if spec.name != name:
                continue
            wanted = _where_label(value, spec.kind)
            for code, category in enumerate(spec.categories):
                if _where_label(category, spec.kind) == wanted:
                    return index, code, category
            for category in spec.rare_categories:
                if _where_label(category, spec.kind) == wanted:
                    return index, len(spec.categories), category  # the shared rare code; the value is set after
            shown = ", ".join(map(str, spec.categories[:10])) + (" ..." if len(spec.categories) > 10 else "")
            raise GanforgeError(f"--where {name}={value}: value never seen in training; column {name!r} has {shown}")
        names = [self.transformer.columns[s.column].name for s in spans]
        raise GanforgeError(f"--where {name}=...: {name!r} is not a categorical column of this model; conditions "
                            f"work on {', '.join(map(repr, names)) or 'no column (the table has none)'}")

    def _require_fitted(self) -> None:
        if self.generator is None or self.transformer is None:
            raise GanforgeError("this TableGAN is not fitted yet; call fit(frame) or TableGAN.load(path)")

    # ------------------------------------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> Path:
        """Write `table.json` and `table_model.safetensors` into `folder` (each atomically)."""
        self._require_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".{MODEL_FILE}.tmp-{os.getpid()}"
        tensors = {k: v.contiguous() for k, v in self.generator.state_dict().items()}
        if self.sampler is not None:
            tensors.update({f"sampler.frequency.{j}": f for j, f in enumerate(self.sampler.frequency)})
        ckpt.write_safetensors(tensors, temp, metadata={"format": FORMAT})
        os.replace(temp, folder / MODEL_FILE)
        config = dataclasses.asdict(self.config)
        ckpt.write_json(folder / META_FILE, {"format": FORMAT, "config": config,
                                             "transformer": self.transformer.to_json(), "history": self.history})
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> TableGAN:
        """A saved model; only tensors and JSON are read, so a stranger's file runs no code."""
        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file() or not (folder / MODEL_FILE).is_file():
            raise GanforgeError(f"{folder} is not a saved TableGAN (expected {META_FILE} and {MODEL_FILE})")
        import json

        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") not in READABLE_FORMATS:
                raise GanforgeError(f"{meta_path} has format {meta.get('format')!r}; expected {FORMAT}")
            config = meta["config"]
            for key in ("generator_dims", "discriminator_dims", "betas", "categorical", "ignore"):
                config[key] = tuple(config[key])
            model = cls(TableGANConfig(**config))
            model.transformer = TableTransformer.from_json(meta["transformer"])
            model.history = meta.get("history", [])
        except (KeyError, TypeError, ValueError) as error:
            raise GanforgeError(f"{meta_path} is not a valid TableGAN description: {error}") from None
        try:
            tensors = load_file(str(folder / MODEL_FILE))
        except (SafetensorError, OSError) as error:
            raise GanforgeError(f"{folder / MODEL_FILE} is not a safetensors file ({error}); nothing was loaded") \
                from None
        spans = model.transformer.condition_spans()
        frequencies = [tensors.pop(f"sampler.frequency.{j}") for j in range(len(spans))]
        if spans:
            model.sampler = ConditionSampler.from_frequencies(spans, frequencies)
        model.layout = OutputLayout(model.transformer.spans)
        cond_width = model.sampler.width if model.sampler else 0
        model.generator = TableGenerator(model.config.latent_dim, cond_width, model.config.generator_dims,
                                         model.transformer.width)
        model.generator.load_state_dict(tensors)
        model.generator.eval()
        return model


def describe_columns(model: TableGAN) -> list[str]:
    """One line per modelled column: its name, kind and what its values may be."""
    lines = []
    for spec in model.transformer.columns:
        if spec.kind in ("categorical", "boolean"):
            detail = f"{len(spec.categories)} categories"
        elif spec.kind == "datetime":  # stored as seconds since 1970; shown as dates
            first, last = (pd.Timestamp(value, unit="s").isoformat() for value in (spec.minimum, spec.maximum))
            detail = f"range {first} to {last}"
        else:
            detail = f"range {spec.minimum:g} to {spec.maximum:g}"
        missing = f", {spec.missing_rate:.1%} missing" if spec.missing_rate else ""
        lines.append(f"{spec.name}: {spec.kind} ({detail}{missing})")
    return lines


@dataclass
class _FitState:
    """The objects a fit's checkpoint holds."""

    generator: nn.Module
    discriminator: nn.Module
    average: GeneratorEMA | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rng: torch.Generator
    head: nn.Module | None = None
    opt_head: torch.optim.Optimizer | None = None

    def modules(self) -> dict[str, nn.Module]:
        """The networks, by checkpoint name."""
        named = {"generator": self.generator, "discriminator": self.discriminator}
        if self.average is not None:
            named["ema"] = self.average.average
        if self.head is not None:
            named["target_head"] = self.head
        return named

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers, by checkpoint name."""
        named = {"opt_g": self.opt_g, "opt_d": self.opt_d}
        if self.opt_head is not None:
            named["opt_head"] = self.opt_head
        return named


def _forget_autocast_weights() -> None:
    """Under bf16 autocast, drop the casts of weights an optimizer has just changed: autocast keeps one cast per
    weight until its block ends, so later forward passes in the same step would use the weights from before."""
    if torch.is_autocast_enabled("cpu"):
        torch.clear_autocast_cache()


def _fingerprint(frame: pd.DataFrame) -> str:
    """A hash of a table's column names and values: a checkpoint continues only on the table it was made on."""
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    names = pd.util.hash_pandas_object(pd.Series(list(frame.columns), dtype=object), index=False).to_numpy()
    return hashlib.sha256(rows.tobytes() + names.tobytes()).hexdigest()[:32]


def _condition_layout(spans: list[Span]) -> tuple[Tensor, Tensor]:
    """The generator outputs of the conditioned columns' categories, and which of those columns each belongs to."""
    positions, group = [], []
    for j, span in enumerate(spans):
        positions += range(span.start, span.start + span.width)
        group += [j] * span.width
    return torch.tensor(positions, dtype=torch.long), torch.tensor(group, dtype=torch.long)


def _where_label(value: Any, kind: str) -> str:
    """Compare `--where` values as the command line gives them: `2` matches 2.0, `true`/`yes`/`1` match True."""
    text = label(value)
    if kind == "boolean":
        text = text.lower()
        return {"yes": "true", "1": "true", "no": "false", "0": "false"}.get(text, text)
    return text
