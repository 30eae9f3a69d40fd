"""Unpaired image-to-image translation (CycleGAN, Zhu et al. 2017): the task the shared loop trains.

Two generators, G: A → B and F: B → A, and a discriminator per domain. One step, as the paper's:
- G and F minimise the least-squares GAN loss of their outputs, plus λ·(|F(G(a)) − a|₁ + |G(F(b)) − b|₁) (cycle
  consistency, λ = 10), plus 0.5·λ·(|G(b) − b|₁ + |F(a) − a|₁) (identity, when both domains have one channel count);
- each discriminator minimises half the least-squares loss of its real images against fakes drawn from a pool of
  the last 50 fakes (half the time a stored fake is returned instead of the new one), so D does not chase only
  the newest G.
The batches of the two domains, the flips and the pool's choices are functions of (seed, step), and the pool is
saved in every checkpoint, so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor, nn

from ganforge.data.base import BatchOrder
from ganforge.data.pairs import UnpairedImages
from ganforge.models.translation import PatchDiscriminator, ResnetGenerator
from ganforge.training.task import Task, grad_norm
from ganforge.training.translation import (
    STRIP_ROWS,
    AveragedGenerators,
    StripPreviews,
    identity_options,
    strip_picture,
    to_model,
)

FIXED_IMAGES = 16


@dataclass(frozen=True)
class CycleOptions:
    """CycleGAN's settings; the sizes are CPU defaults (the paper: width 64, 9 blocks at 256 px, batch 1)."""

    width: int = 32
    d_width: int = 32
    blocks: int = 6
    cycle: float = 10.0
    identity: float = 0.5  # × cycle
    pool: int = 50
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 1
    flip: bool = True
    ema: float = 0.0  # the generators' moving-average decay (0: off, the paper's)
    seed: int = 0


class ImagePool:
    """The last `size` fakes; `query` returns, for each new fake, it or (half the time, once full) a stored one it
    replaces. Its choices come from a generator seeded by the step, and its contents are checkpoint tensors."""

    def __init__(self, size: int, shape: tuple[int, ...]):
        self.size, self.count = size, 0
        self.images = torch.zeros(size, *shape)

    def query(self, fakes: Tensor, rng: torch.Generator) -> Tensor:
        """The images D sees for these fakes (detached)."""
        if self.size == 0:
            return fakes.detach()
        out = []
        for fake in fakes.detach():
            if self.count < self.size:
                self.images[self.count] = fake.cpu()
                self.count += 1
                out.append(fake)
            elif float(torch.rand((), generator=rng)) < 0.5:
                slot = int(torch.randint(self.size, (), generator=rng))
                stored = self.images[slot].to(fake).clone()
                self.images[slot] = fake.cpu()
                out.append(stored)
            else:
                out.append(fake)
        return torch.stack(out)


def lsgan(logits: Tensor, real: bool) -> Tensor:
    """The least-squares GAN loss: (D − 1)² for real, D² for fake."""
    return ((logits - (1.0 if real else 0.0)) ** 2).mean()


class CycleTask(StripPreviews, AveragedGenerators, Task):
    """CycleGAN on two sets of images."""

    kind = "pairs"
    stat_names = ("d_loss", "g_loss", "d_real", "d_fake", "cycle")
    shown_stats = (("d_loss", "D", ".3f"), ("g_loss", "G", ".3f"), ("cycle", "cycle", ".3f"))
    other_data = "other images (those of a domain differ from these)"
    resumable = "--steps (the new total)"

    def __init__(self, images: UnpairedImages, options: CycleOptions = CycleOptions(), samples: Path | None = None,
                 device: torch.device | None = None):
        super().__init__()
        self.options, self.samples = options, samples
        self.device = device or torch.device("cpu")
        self.a, self.b = to_model(images.a).to(self.device), to_model(images.b).to(self.device)
        ca, cb, size = self.a.shape[1], self.b.shape[1], self.a.shape[-1]
        torch.manual_seed(options.seed)
        self.g_ab = ResnetGenerator(ca, cb, options.width, options.blocks).to(self.device)
        self.g_ba = ResnetGenerator(cb, ca, options.width, options.blocks).to(self.device)
        layers = max(1, min(3, int(math.log2(size / 3))))
        self.d_a = PatchDiscriminator(ca, options.d_width, layers, norm="instance").to(self.device)
        self.d_b = PatchDiscriminator(cb, options.d_width, layers, norm="instance").to(self.device)
        generators = [*self.g_ab.parameters(), *self.g_ba.parameters()]
        self.opt_g = torch.optim.Adam(generators, options.lr, betas=options.betas)
        self.opt_d = torch.optim.Adam([*self.d_a.parameters(), *self.d_b.parameters()], options.lr,
                                      betas=options.betas)
        self.batch_size = options.batch_size
        self.order_a = BatchOrder(len(self.a), min(options.batch_size, len(self.a)), options.seed)
        self.order_b = BatchOrder(len(self.b), min(options.batch_size, len(self.b)), options.seed + 1)
        self.pool_a = ImagePool(options.pool, tuple(self.a.shape[1:]))
        self.pool_b = ImagePool(options.pool, tuple(self.b.shape[1:]))
        self.same_channels = ca == cb
        digest = hashlib.sha256()
        for tensor in (images.a, images.b):
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.contiguous().numpy().tobytes())
        self.fingerprint = digest.hexdigest()[:16]
        self._average({"generator": self.g_ab, "generator_ba": self.g_ba}, options.ema)

    # ----- what a checkpoint holds -----------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        # "generator" is A → B: the network `translate` uses
        return {"generator": self.g_ab, "generator_ba": self.g_ba, "discriminator": self.d_b,
                "discriminator_a": self.d_a, **self.average_modules()}

    def trained_modules(self) -> list[nn.Module]:
        return [self.g_ab, self.g_ba, self.d_a, self.d_b]

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def tensors(self) -> dict[str, Tensor]:
        return {"pool_a": self.pool_a.images, "pool_b": self.pool_b.images}

    def load_tensors(self, tensors: dict[str, Tensor]) -> None:
        self.pool_a.images.copy_(tensors["pool_a"])
        self.pool_b.images.copy_(tensors["pool_b"])

    def state_dict(self) -> dict[str, Any]:
        return {"pool_counts": [self.pool_a.count, self.pool_b.count]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pool_a.count, self.pool_b.count = (int(n) for n in state["pool_counts"])

    def identity(self) -> dict[str, Any]:
        return {"options": identity_options(self.options),
                "data": self.fingerprint}

    # ----- one step --------------------------------------------------------------------------------------------
    def _batch(self, images: Tensor, order: BatchOrder, step: int, salt: int) -> Tensor:
        batch = images[order.indices(step)]
        if self.options.flip:
            rng = torch.Generator().manual_seed((self.options.seed * 7919 + step) * 2 + salt)
            flipped = (torch.rand(len(batch), generator=rng) < 0.5).to(self.device)
            batch = torch.where(flipped[:, None, None, None], batch.flip(-1), batch)
        return batch

    def train_step(self, step: int, measure: bool) -> Tensor:
        o = self.options
        a, b = self._batch(self.a, self.order_a, step, 0), self._batch(self.b, self.order_b, step, 1)
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        cycle = (self.g_ba(fake_b) - a).abs().mean() + (self.g_ab(fake_a) - b).abs().mean()
        g_loss = lsgan(self.d_b(fake_b), True) + lsgan(self.d_a(fake_a), True) + o.cycle * cycle
        if self.same_channels and o.identity > 0:
            same = (self.g_ab(b) - b).abs().mean() + (self.g_ba(a) - a).abs().mean()
            g_loss = g_loss + o.identity * o.cycle * same
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        g_norm = grad_norm(self.g_ab) if measure else math.nan
        self.opt_g.step()
        self._update_averages()
        rng = torch.Generator().manual_seed(self.options.seed * 104_729 + step)
        pooled_a, pooled_b = self.pool_a.query(fake_a, rng), self.pool_b.query(fake_b, rng)
        real_b, fake_b_logits = self.d_b(b), self.d_b(pooled_b)
        real_a, fake_a_logits = self.d_a(a), self.d_a(pooled_a)
        d_loss = 0.5 * (lsgan(real_b, True) + lsgan(fake_b_logits, False)) \
            + 0.5 * (lsgan(real_a, True) + lsgan(fake_a_logits, False))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        if measure:
            self.grad_norms = (g_norm, grad_norm(self.d_b))
        self.opt_d.step()
        return torch.stack([d_loss, g_loss, real_b.mean(), fake_b_logits.mean(), cycle]).detach()

    # ----- what the loop and the user look at ------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, a: Tensor) -> Tensor:
        """G(a) for model-space images of domain A."""
        network = self.shown("generator")
        was = network.training
        network.eval()
        out = network(a)
        network.train(was)
        return out

    def fixed_samples(self) -> Tensor | None:
        return self.translate(self.a[:FIXED_IMAGES]).flatten(1)

    def real_samples(self, n: int) -> Tensor:
        return self.b[:n].flatten(1)

    @torch.no_grad()
    def strip(self, count: int = STRIP_ROWS) -> Image.Image:
        """A | G(A) | F(G(A)) for the first `count` images of A, one per row."""
        a = self.a[:count]
        out = self.translate(a)
        network = self.shown("generator_ba")
        was = network.training
        network.eval()
        back = network(out)
        network.train(was)
        return strip_picture([a, out, back])
