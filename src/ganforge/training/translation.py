"""Paired image-to-image translation (pix2pix, Isola et al. 2017): the task the shared loop trains.

One step, as the paper's: D judges (A, B) pairs against (A, G(A)) with the standard GAN loss, halved so D learns
slower than G; then G minimises the non-saturating GAN loss of (A, G(A)) plus λ·|G(A) − B|₁ (λ = 100). The only
augmentation is a horizontal flip of both images of a pair (the paper's jitter also rescales; on CPU sizes the
flip is the part that keeps its value). Batches and flips are pure functions of (seed, step), and dropout draws
from PyTorch's global generator, which checkpoints hold, so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from ganforge.config import augment_probability
from ganforge.data.base import BatchOrder
from ganforge.data.pairs import ImagePairs
from ganforge.errors import GanforgeError
from ganforge.models.translation import PatchDiscriminator, UNetGenerator
from ganforge.regularizers.ada import AdaptiveAugment
from ganforge.regularizers.ema import GeneratorEMA
from ganforge.training.distributed import SINGLE, Processes
from ganforge.training.task import Task, grad_norm

CPU = torch.device("cpu")
FIXED_PAIRS = 16  # pairs the health monitor and the previews follow
STRIP_ROWS = 8  # pairs in a preview strip: input | output | target
FINAL_STRIP = "final.png"


@dataclass(frozen=True)
class PairOptions:
    """pix2pix's settings; the sizes are CPU defaults (the paper: width 64, batch 1, 256 px)."""

    width: int = 32
    d_width: int = 32
    d_layers: int = 3
    l1: float = 100.0
    adversarial: float = 1.0  # 0: L1 alone (the paper's Table 1 baseline); D still trains, as a probe
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 4
    dropout: float = 0.5
    flip: bool = True
    ema: float = 0.0  # the generator's moving-average decay (0: off, the paper's)
    augment_p: str = "off"  # ADA: ada, a fixed probability, or off (auto: off)
    seed: int = 0


# options added after runs were made: at these values a checkpoint's identity leaves them out, so that older runs,
# which trained so, still resume
LATER_OPTIONS: dict[str, Any] = {"adversarial": 1.0, "ema": 0.0, "augment_p": "off", "generator": "srresnet",
                                 "rrdb_blocks": 3, "growth": 16}


def identity_options(options: Any) -> dict[str, Any]:
    """A task's options as a checkpoint's identity holds them: plain JSON, later options at their defaults left out."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(options).items()
            if not (key in LATER_OPTIONS and value == LATER_OPTIONS[key])}


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Random draws (dropout) from `seed` inside; training's streams, CPU and `device`'s, as they were after."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def to_model(images: Tensor) -> Tensor:
    """uint8 images → floats in [-1, 1]."""
    return images.float() / 127.5 - 1.0


def pairs_fingerprint(pairs: ImagePairs) -> str:
    """A short hash of the pairs' pixels: a checkpoint resumes only on the same pairs."""
    digest = hashlib.sha256()
    for tensor in (pairs.a, pairs.b):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def strip_picture(columns: list[Tensor]) -> Image.Image:
    """Batches of [-1, 1] images side by side as columns, one item per row (gray ones shown in colour)."""
    colour = [t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t for t in columns]
    grid = torch.cat(list(torch.cat(colour, 3)), 1)  # (3, n·S, columns·S)
    pixels = ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).contiguous().cpu().numpy()
    return Image.fromarray(pixels)


class StripPreviews:
    """Preview and finish for an image-to-image task: its `strip()` saved in `samples/` at each sample step and as
    `final.png` at the end (by the main process)."""

    samples: Path | None
    processes: Any

    def strip(self) -> Image.Image:
        raise NotImplementedError

    def _save_strip(self, name: str) -> None:
        if self.samples is not None and self.processes.main:
            self.samples.mkdir(parents=True, exist_ok=True)
            self.strip().save(self.samples / name)

    def preview(self, step: int) -> None:
        self._save_strip(f"step_{step:06d}.png")

    def finish(self, step: int) -> None:
        self._save_strip(FINAL_STRIP)


def translating(generator: nn.Module) -> nn.Module:
    """`generator` set to translate: eval mode, with its dropout on (pix2pix translates so, as it trained)."""
    generator.eval()
    for module in generator.modules():
        if isinstance(module, nn.Dropout):
            module.train()
    return generator


class AveragedGenerators:
    """An image-to-image task's translators: exponential moving averages of its generators with a decay above 0
    (`--ema`), which then translate, make the previews and are saved beside the trained networks as NAME_ema, for
    `ganforge translate`, `enhance` and `eval` (Real-ESRGAN keeps one at 0.999); and its evaluation while training,
    `evaluation(forward, back)` on copies of them (set by `kinds.pairs` from --eval-every)."""

    averages: dict[str, GeneratorEMA]
    _sources: dict[str, nn.Module]
    evaluation: Callable[[nn.Module, nn.Module | None], dict[str, Any]] | None = None

    def _average(self, generators: dict[str, nn.Module], decay: float) -> None:
        self._sources = generators
        self.averages = {name: GeneratorEMA(net, decay) for name, net in generators.items()} if decay > 0 else {}

    def _update_averages(self) -> None:
        for name, average in self.averages.items():
            average.update(self._sources[name])

    def average_modules(self) -> dict[str, nn.Module]:
        """The averages by checkpoint name (none without EMA)."""
        return {f"{name}_ema": average.average for name, average in self.averages.items()}

    def shown(self, name: str) -> nn.Module:
        """The network that translates for `name`: its average when there is one."""
        return self.averages[name].average if name in self.averages else self._sources[name]

    def evaluate(self, step: int) -> dict[str, Any]:
        """The scores of copies of the translators (A → B, and B → A where there is one), on the CPU."""
        if self.evaluation is None:
            return {}
        forward = translating(copy.deepcopy(self.shown("generator")).cpu())
        back = (translating(copy.deepcopy(self.shown("generator_ba")).cpu()) if "generator_ba" in self._sources
                else None)
        return self.evaluation(forward, back)


class AugmentedJudging:
    """Adaptive discriminator augmentation for an image-to-image task (`--augment-p ada`, or a fixed probability;
    `auto` and `off` leave it off, the papers' recipes): what D sees, real and generated alike, goes through
    `regularizers.ada`'s transforms, one draw per image, so the two images of a pair stacked by channel move together.
    p is steered by the sign of D's logits on real images and saved in the checkpoint's JSON state."""

    ada: AdaptiveAugment | None = None

    def _start_augment(self, setting: str | float, processes: Processes) -> None:
        wanted = augment_probability(setting)
        if wanted == "ada":
            self.ada = AdaptiveAugment(0.0, adaptive=True, reduce=processes.sum_, world=processes.world)
        elif wanted not in ("auto", "off"):
            self.ada = AdaptiveAugment(float(wanted), adaptive=False)

    def judged(self, images: Tensor) -> Tensor:
        """What D sees of `images`: augmented with probability p."""
        return self.ada(images) if self.ada is not None else images

    def augments(self) -> bool:
        return self.ada is not None and self.ada.p > 0

    def state_dict(self) -> dict[str, Any]:
        return {"ada": self.ada.state_dict()} if self.ada is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ada is not None and "ada" in state:
            self.ada.load_state_dict(state["ada"])

    def log_fields(self, step: int) -> dict[str, Any]:
        return {"augment_p": self.ada.p} if self.ada is not None else {}


class JudgedTogether(nn.Module):
    """D on two batches in one forward pass (real, then generated): DistributedDataParallel averages gradients for
    one forward pass per backward pass."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, first: Tensor, second: Tensor) -> tuple[Tensor, Tensor]:
        return self.discriminator(first), self.discriminator(second)


def rank_slice(batch: Tensor, processes: Processes) -> Tensor:
    """This rank's share of a global batch: a disjoint slice, so N ranks of batch B take one batch of N·B."""
    share = len(batch) // processes.world
    return batch[processes.rank * share : (processes.rank + 1) * share]


class PairTask(StripPreviews, AveragedGenerators, AugmentedJudging, Task):
    """pix2pix on one set of aligned pairs."""

    kind = "pairs"
    stat_names = ("d_loss", "g_loss", "d_real", "d_fake", "l1")
    shown_stats = (("d_loss", "D", ".3f"), ("g_loss", "G", ".3f"), ("l1", "L1", ".3f"))
    other_data = "other pairs (their images differ from these)"
    resumable = "--steps (the new total)"

    def __init__(self, pairs: ImagePairs, options: PairOptions = PairOptions(), samples: Path | None = None,
                 device: torch.device = CPU, processes: Processes = SINGLE):
        super().__init__()
        self.pairs, self.options, self.samples, self.device = pairs, options, samples, device
        self.processes = processes
        self.a, self.b = to_model(pairs.a).to(device), to_model(pairs.b).to(device)
        in_channels, out_channels, size = self.a.shape[1], self.b.shape[1], self.a.shape[-1]
        torch.manual_seed(options.seed)
        self.generator = UNetGenerator(in_channels, out_channels, size, options.width, options.dropout)
        # small images take fewer layers: each logit's patch must fit (the paper's 3 from 32 px up)
        layers = max(1, min(options.d_layers, int(math.log2(size / 3))))
        self.discriminator = PatchDiscriminator(in_channels + out_channels, options.d_width, layers)
        self.generator.to(device)
        self.discriminator.to(device)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), options.lr, betas=options.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), options.lr, betas=options.betas)
        self.batch_size = min(options.batch_size, len(pairs) // processes.world)
        if self.batch_size < 1:
            raise GanforgeError(f"option --nproc {processes.world}: {len(pairs)} pairs are too few (each process "
                                "takes at least one a step)")
        self.order = BatchOrder(len(pairs), self.batch_size * processes.world, options.seed)  # the global batch
        self.fingerprint = pairs_fingerprint(pairs)
        self._average({"generator": self.generator}, options.ema)
        # the passes whose gradients are averaged over the processes (the networks themselves with one)
        self.generator_pass = processes.wrap(self.generator, device)
        self.discriminator_pass = processes.wrap(JudgedTogether(self.discriminator), device)
        self._start_augment(options.augment_p, processes)
        if processes.active:  # dropout and augmentation differ between the ranks (the weights above do not)
            torch.manual_seed(options.seed * processes.world + processes.rank)

    # ----- what a checkpoint holds -----------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator, **self.average_modules()}

    def trained_modules(self) -> list[nn.Module]:
        return [self.generator, self.discriminator]

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def identity(self) -> dict[str, Any]:
        options = identity_options(self.options)
        if self.processes.active:  # the batches and the random streams depend on the number of processes
            options["processes"] = self.processes.world
        return {"options": options, "data": self.fingerprint}

    # ----- one step --------------------------------------------------------------------------------------------
    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        """The (A, B) batch of `step`, flipped where (seed, step) says so."""
        index = self.order.indices(step)
        a, b = self.a[index], self.b[index]
        if self.options.flip:
            coins = torch.rand(len(index), generator=torch.Generator().manual_seed(self.options.seed * 7919 + step))
            flipped = (coins < 0.5).to(self.device)
            a = torch.where(flipped[:, None, None, None], a.flip(-1), a)
            b = torch.where(flipped[:, None, None, None], b.flip(-1), b)
        return rank_slice(a, self.processes), rank_slice(b, self.processes)

    def train_step(self, step: int, measure: bool) -> Tensor:
        a, b = self.batch(step)
        fake = self.generator_pass(a)
        real_logits, fake_logits = self.discriminator_pass(self.judged(torch.cat([a, b], 1)),
                                                           self.judged(torch.cat([a, fake.detach()], 1)))
        d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                        + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        d_norm = grad_norm(self.discriminator) if measure else float("nan")
        self.opt_d.step()
        if self.ada is not None:
            self.ada.observe(real_logits)
        judged = self.discriminator(self.judged(torch.cat([a, fake], 1)))
        adversarial = F.binary_cross_entropy_with_logits(judged, torch.ones_like(judged))
        l1 = (fake - b).abs().mean()
        g_loss = self.options.adversarial * adversarial + self.options.l1 * l1
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        if measure:
            self.grad_norms = (grad_norm(self.generator), d_norm)
        self.opt_g.step()
        # batch-norm statistics alike on every rank (D's moved in G's pass too), before the average copies G's
        self.processes.average_buffers(self.generator)
        self.processes.average_buffers(self.discriminator)
        self._update_averages()
        return torch.stack([d_loss, g_loss, torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean(),
                            l1]).detach()

    # ----- what the loop and the user look at ------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, a: Tensor) -> Tensor:
        """G's outputs for model-space inputs (dropout on, as pix2pix translates; batch norm in its running mode)."""
        network = self.shown("generator")
        was = network.training
        network.eval()
        for module in network.modules():
            if isinstance(module, nn.Dropout):
                module.train()
        out = network(a)
        network.train(was)
        return out

    def fixed_samples(self) -> Tensor | None:
        generator = torch.Generator().manual_seed(self.options.seed)
        seed = int(torch.randint(0, 2**31, (1,), generator=generator))
        with seeded(seed, self.device):  # the health check leaves training's random streams as they were
            return self.translate(self.a[:FIXED_PAIRS]).flatten(1)

    def real_samples(self, n: int) -> Tensor:
        return self.b[:n].flatten(1)

    def held_out_l1(self, pairs: ImagePairs) -> float:
        """The mean |G(A) − B| over `pairs` in model space (the pix2pix paper's L1 row, on [-1, 1] images)."""
        with seeded(self.options.seed, self.device):
            out = self.translate(to_model(pairs.a).to(self.device))
        return float((out - to_model(pairs.b).to(self.device)).abs().mean())

    def strip(self, count: int = STRIP_ROWS) -> Image.Image:
        """Input | output | target for the first `count` pairs, one pair per row (gray sides shown in colour)."""
        a, b = self.a[:count], self.b[:count]
        with seeded(self.options.seed, self.device):
            out = self.translate(a)
        return strip_picture([a, out, b])
