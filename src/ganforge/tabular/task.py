"""Tables: the task the shared loop (`training.loop`) trains, one step of which reads in one screen.

One step = `d_steps` critic updates, then one generator update on the fake rows of the last critic update. The
critic judges packs of `pac` rows (the shared PacGAN wrapper) with the shared WGAN loss and pack-aware gradient
penalty (lazily, every `gp_every`-th critic update, weight k·gp). The generator also answers the conditional vector
(training-by-sampling, CTGAN) and, with a `target`, keeps that column predictable (CTAB-GAN).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError
from ganforge.losses import get_loss
from ganforge.models.layers import Packed
from ganforge.regularizers.ema import GeneratorEMA
from ganforge.regularizers.penalties import wgan_gradient_penalty
from ganforge.tabular.model import (
    ConditionSampler,
    OutputLayout,
    TableCritic,
    TableGenerator,
    TargetHead,
    activate,
    group_logsumexp,
)
from ganforge.tabular.options import TableGANConfig
from ganforge.tabular.transform import Span, TableTransformer
from ganforge.training import checkpoint as ckpt
from ganforge.training.hardware import autocast_factory, pick_precision
from ganforge.training.task import Task, grad_norm

HEALTH_ROWS = 256  # fixed rows the health monitor follows: 2.2 ms an epoch on `fair`, 1 % of its 200 ms (500: 5.8 ms)


def make_rows(generator: nn.Module, config: TableGANConfig, layout: OutputLayout, cond: Tensor,
              rng: torch.Generator, sample: bool = False) -> tuple[Tensor, Tensor]:
    """Raw generator output and activated rows for the conditional vectors `cond` (`sample`: each category drawn,
    as when producing rows; else the Gumbel-softmax the critic trains on)."""
    z = torch.randn(len(cond), config.latent_dim, generator=rng)
    raw = generator(torch.cat([z, cond], 1) if cond.shape[1] else z)
    return raw, activate(raw, layout, config.tau, rng if sample else None)


def table_identity(config: TableGANConfig, fingerprint: str) -> dict[str, Any]:
    """What a table checkpoint must share with the fit that resumes it: every option but `epochs` (the new total
    when resuming), and the table's fingerprint."""
    options = ckpt.plain_json(config.to_json())
    options.pop("epochs")
    return {"options": options, "data": fingerprint}


class TableTask(Task):
    """A conditional tabular GAN on one encoded table."""

    kind = "table"
    shown_stats = (("d_loss", "D", ".3f"), ("g_loss", "G", ".3f"))
    other_data = "another table (its rows or columns differ from this one)"
    resumable = "--epochs (the new total)"

    def __init__(self, config: TableGANConfig, frame: pd.DataFrame, transformer: TableTransformer,
                 fingerprint: str):
        super().__init__()
        cfg = self.config = config
        self.transformer, self.fingerprint, self.rows = transformer, fingerprint, len(frame)
        self.offsets, self.codes = (torch.from_numpy(a) for a in transformer.encode(frame, cfg.seed))
        spans = transformer.condition_spans()
        self.sampler = ConditionSampler(self.codes, spans) if spans else None
        self.layout = OutputLayout(transformer.spans)
        # the generator's logits for the conditioned columns, and which column each belongs to (condition loss)
        self._condition_positions, self._condition_group = _condition_layout(spans)
        cond_width = self.sampler.width if self.sampler else 0
        width = transformer.width
        self.generator = TableGenerator(cfg.latent_dim, cond_width, cfg.generator_dims, width)
        self._generator_weights = list(self.generator.parameters())
        self.discriminator = Packed(TableCritic((width + cond_width) * cfg.pac, cfg.discriminator_dims, cfg.dropout),
                                    cfg.pac)
        # fused: one kernel updates every tensor (1.3 → 0.3 ms per critic step on `fair`)
        adam = dict(betas=cfg.betas, weight_decay=cfg.weight_decay, fused=True)
        self.opt_g = torch.optim.Adam(self._generator_weights, cfg.lr_g, **adam)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), cfg.lr_d, **adam)
        self.head = self._target_head()
        self.opt_head = torch.optim.Adam(self.head.parameters(), cfg.lr_d, betas=cfg.betas, fused=True) \
            if self.head is not None else None
        self.batch_size = cfg.batch_for(len(frame))
        self.steps_per_epoch = cfg.steps_per_epoch(len(frame))
        self.rng = torch.Generator().manual_seed(cfg.seed)
        self.critic_updates = 0
        self.generator.train()
        self.ema = GeneratorEMA(self.generator, cfg.ema) if cfg.ema > 0 else None
        self.autocast = autocast_factory(pick_precision(cfg.precision, torch.device("cpu")), torch.device("cpu"))
        self.loss = get_loss("wgan-gp")
        self.stat_names = ("d_loss", "g_loss", "d_real", "d_fake", "cond_loss") + \
            (("target_loss",) if self.head is not None else ())
        self.history: list[dict[str, Any]] = []

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

    # ----- what a checkpoint holds -----------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        named = {"generator": self.generator, "discriminator": self.discriminator}
        if self.ema is not None:
            named["ema"] = self.ema.average
        if self.head is not None:
            named["target_head"] = self.head
        return named

    def trained_modules(self) -> list[nn.Module]:
        return [m for m in (self.generator, self.discriminator, self.head) if m is not None]

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        named = {"opt_g": self.opt_g, "opt_d": self.opt_d}
        if self.opt_head is not None:
            named["opt_head"] = self.opt_head
        return named

    def generators(self) -> dict[str, torch.Generator]:
        return {"batches": self.rng}

    def state_dict(self) -> dict[str, Any]:
        return {"critic_updates": self.critic_updates, "transformer": self.transformer.to_json(),
                "history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.critic_updates = int(state["critic_updates"])
        self.history = list(state["history"])

    def identity(self) -> dict[str, Any]:
        return table_identity(self.config, self.fingerprint)

    def log_fields(self, step: int) -> dict[str, Any]:
        return {"epoch": step // self.steps_per_epoch}

    # ----- one step --------------------------------------------------------------------------------------------
    def _real_and_conditions(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Real rows with their conditional vectors, the vectors, and each one's column and category."""
        n = self.batch_size
        if self.sampler is None:
            cond, column = torch.zeros(n, 0), torch.zeros(n, dtype=torch.long)
            category = column
            rows = torch.randint(len(self.offsets), (n,), generator=self.rng)
        else:
            cond, column, category, rows = self.sampler.training_batch(n, self.rng)
        real = self.transformer.expand(self.offsets[rows], self.codes[rows])
        return torch.cat([real, cond], 1), cond, column, category

    def _critic_loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The WGAN loss (with the gradient penalty every `gp_every`-th call), and the scores of real and fake."""
        cfg, packs = self.config, len(real) // self.config.pac
        self.critic_updates += 1
        scores = self.discriminator(torch.cat([real, fake]))  # one pass over both halves (packs never straddle)
        real_scores, fake_scores = scores[:packs], scores[packs:]
        loss = self.loss.discriminator_loss(real_scores, fake_scores)
        if cfg.gp and self.critic_updates % cfg.gp_every == 0:
            penalty = wgan_gradient_penalty(self.discriminator, real, fake, pack=cfg.pac, generator=self.rng)
            loss = loss + cfg.gp * cfg.gp_every * penalty
        return loss, real_scores, fake_scores

    def _update_critic(self, loss: Tensor, real: Tensor) -> None:
        self.opt_d.zero_grad(set_to_none=True)
        if self.head is None:
            loss.backward()
        else:  # the target's model learns from real rows only; one backward pass serves both (separate graphs)
            self.opt_head.zero_grad(set_to_none=True)
            (loss + self.head.loss(real[:, : self.transformer.width])).backward()
            self.opt_head.step()
        self.opt_d.step()
        _forget_autocast_weights()

    def train_step(self, step: int, measure: bool) -> Tensor:
        """`d_steps` critic updates, then one generator update on the fake rows of the last critic update
        (generated once, with gradients, instead of twice)."""
        with self.autocast():
            for _ in range(self.config.d_steps - 1):
                real, cond, _, _ = self._real_and_conditions()
                with torch.no_grad():
                    fake = make_rows(self.generator, self.config, self.layout, cond, self.rng)[1]
                loss = self._critic_loss(real, torch.cat([fake, cond], 1))[0]
                self.opt_d.zero_grad(set_to_none=True)
                loss.backward()
                self.opt_d.step()
                _forget_autocast_weights()
            real, cond, column, category = self._real_and_conditions()
            raw, fake = make_rows(self.generator, self.config, self.layout, cond, self.rng)
            fake = torch.cat([fake, cond], 1)
            d_loss, real_scores, fake_scores = self._critic_loss(real, fake.detach())
            self._update_critic(d_loss, real)
            d_norm = grad_norm(self.discriminator) if measure else None

            adversarial = self.loss.generator_loss(self.discriminator(fake))
            cond_loss = self._condition_loss(raw, column, category)
            stats = [d_loss, adversarial, torch.sigmoid(real_scores.float()).mean(),
                     torch.sigmoid(fake_scores.float()).mean(), cond_loss]
            generator_loss = adversarial + cond_loss
            if self.head is not None:
                target_loss = self.head.loss(fake[:, : self.transformer.width])
                generator_loss = generator_loss + self.config.target_weight * target_loss
                stats.append(target_loss)
            self.opt_g.zero_grad(set_to_none=True)
            # gradients for the generator's weights only: none are computed for the critic's or the head's
            generator_loss.backward(inputs=self._generator_weights)
            if measure:
                self.grad_norms = (grad_norm(self.generator), d_norm)
            self.opt_g.step()
        if self.ema is not None:
            self.ema.update(self.generator)
        return torch.stack([s.detach().float() for s in stats])

    def _condition_loss(self, raw: Tensor, column: Tensor, category: Tensor) -> Tensor:
        """Cross-entropy between the category each conditional vector asked for and what the generator made."""
        if self.sampler is None:
            return torch.zeros(())
        logits = raw[:, self._condition_positions].float()
        every = torch.arange(len(raw))
        normaliser = group_logsumexp(logits, self._condition_group, len(self.sampler.spans))[every, column]
        return (normaliser - logits[every, self.sampler.starts[column] + category]).mean()

    # ----- health ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def fixed_samples(self) -> Tensor:
        """`HEALTH_ROWS` encoded rows from fixed noise and conditions (their own generator: training RNGs are left
        alone), with the generator in eval mode."""
        rng = torch.Generator().manual_seed(self.config.seed + 2)
        cond = self.sampler.frequency_batch(HEALTH_ROWS, rng) if self.sampler else torch.zeros(HEALTH_ROWS, 0)
        self.generator.eval()
        rows = make_rows(self.generator, self.config, self.layout, cond, rng, sample=True)[1]
        self.generator.train()
        return rows.float()

    def real_samples(self, n: int) -> Tensor:
        chosen = torch.randperm(len(self.offsets), generator=torch.Generator().manual_seed(self.config.seed + 3))[:n]
        return self.transformer.expand(self.offsets[chosen], self.codes[chosen]).float()


def _forget_autocast_weights() -> None:
    """Under bf16 autocast, drop the casts of weights an optimizer has just changed: autocast keeps one cast per
    weight until its block ends, so later forward passes in the same step would use the weights from before."""
    if torch.is_autocast_enabled("cpu"):
        torch.clear_autocast_cache()


def _condition_layout(spans: list[Span]) -> tuple[Tensor, Tensor]:
    """The generator outputs of the conditioned columns' categories, and which of those columns each belongs to."""
    positions, group = [], []
    for j, span in enumerate(spans):
        positions += range(span.start, span.start + span.width)
        group += [j] * span.width
    return torch.tensor(positions, dtype=torch.long), torch.tensor(group, dtype=torch.long)
