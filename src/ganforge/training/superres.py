"""Single-image super-resolution (SRGAN, Ledig et al. 2017; ESRGAN, Wang et al. 2018): the task the shared loop
trains.

Two phases, as ESRGAN trains. First `pixel_steps` steps on pixels alone: G minimises |G(x) − y|₁, the PSNR-oriented
model (SRResNet). Then the GAN phase: G minimises 0.01·L1 + 1·perceptual + 0.005·adversarial, with ESRGAN's
relativistic average discriminator, D_Ra(a, b) = σ(C(a) − mean C(b)), trained on high-resolution crops against G's
outputs. D is not trained during the pixel phase; its statistics read 0 there, and the log's `phase` says which
phase a line is in.

The perceptual term compares features of a frozen ImageNet network, as SRGAN's VGG loss does. VGG's weights are not
on a fresh machine and are never downloaded, so ganforge uses the FID Inception network that the fid extra installs
(its stem, through Conv2d_4a: 192 channels at a quarter of the resolution), L1 between features. Without those
weights (`perceptual="none"`), the GAN phase keeps L1 at weight 1 beside the adversarial term (SRGAN's MSE variant).

Batches are pure functions of (seed, step) (`data.superres`), so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from ganforge.data.images import to_tensor
from ganforge.data.superres import SRPhotos, upscaled
from ganforge.errors import GanforgeError
from ganforge.models.superres import PERCEPTUAL, sr_generator
from ganforge.models.translation import PatchDiscriminator
from ganforge.training.distributed import SINGLE, Processes
from ganforge.training.task import Task, grad_norm
from ganforge.training.translation import (
    AugmentedJudging,
    AveragedGenerators,
    JudgedTogether,
    StripPreviews,
    identity_options,
    rank_slice,
    strip_picture,
    to_model,
)

log = logging.getLogger("ganforge")

CPU = torch.device("cpu")
FIXED_CROPS = 16  # crops the health monitor and the previews follow
STRIP_ROWS = 6
FIXED_STEP = 2**40  # the crops' "step" for the fixed crops: no training step draws it


@dataclass(frozen=True)
class SROptions:
    """Super-resolution settings; the sizes are CPU defaults (SRGAN: width 64, 16 blocks, 96-pixel crops, batch 16)."""

    scale: int = 4
    patch: int = 96
    width: int = 32
    blocks: int = 8  # SRResNet's residual blocks
    generator: str = "srresnet"  # or rrdb (models.superres.SR_GENERATORS)
    rrdb_blocks: int = 3  # RRDBNet's blocks (ESRGAN: 23)
    growth: int = 16  # RRDBNet's dense growth (ESRGAN: 32)
    d_width: int = 32
    d_layers: int = 3
    batch_size: int = 8
    lr: float = 2e-4
    gan_lr: float | None = 1e-4  # the GAN phase's rate, ESRGAN's (None: `lr` throughout)
    betas: tuple[float, float] = (0.9, 0.999)
    pixel_steps: int = 0
    l1_gan: float | None = None  # None: 0.01 with a perceptual network (ESRGAN), else 1
    perceptual: str = "inception"
    perceptual_weight: float = 1.0
    adversarial: float = 0.005
    degradation: str = "bicubic"
    ema: float = 0.0  # the generator's moving-average decay (0: off; Real-ESRGAN's 0.999)
    augment_p: str = "off"  # ADA on what D sees: ada, a fixed probability, or off (auto: off)
    seed: int = 0


def build_sr_generator(options: dict[str, Any]) -> nn.Module:
    """The generator SR options describe (as `SROptions` or as a run's config.json holds them; runs from before
    `generator` existed are SRResNets)."""
    name = options.get("generator", "srresnet")
    blocks = options.get("rrdb_blocks", 3) if name == "rrdb" else options["blocks"]
    return sr_generator(name, 3, options["width"], blocks, options["scale"], options.get("growth", 16))


class InceptionStem(nn.Module):
    """The FID Inception network's stem (through Conv2d_4a_3x3), frozen: the perceptual loss's feature space. Images
    in [-1, 1], which is the network's own input range."""

    def __init__(self, weights: str | Path | None = None):
        super().__init__()
        from ganforge.features.inception import load_inception

        full = load_inception(weights)
        self.layers = nn.Sequential(full.Conv2d_1a_3x3, full.Conv2d_2a_3x3, full.Conv2d_2b_3x3,
                                    nn.MaxPool2d(3, stride=2), full.Conv2d_3b_1x1, full.Conv2d_4a_3x3)
        self.eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> InceptionStem:
        return super().train(False)  # its batch norms stay in their ImageNet statistics

    def forward(self, images: Tensor) -> Tensor:
        """Features (N, 192, h, w) of images (N, 3, H, W) in [-1, 1]."""
        return self.layers(images)


def perceptual_network(choice: str, weights: str | Path | None = None) -> nn.Module | None:
    """The frozen feature network of the perceptual loss for `choice` (auto: Inception's stem where its weights are on
    this machine, else none)."""
    if choice not in PERCEPTUAL:
        raise GanforgeError(f"option --perceptual {choice!r}: choose one of {', '.join(PERCEPTUAL)}")
    if choice == "none":
        return None
    try:
        return InceptionStem(weights)
    except GanforgeError:
        if choice == "inception":
            raise
        return None


def photos_fingerprint(photos: SRPhotos) -> str:
    """A short hash of the photos' pixels: a checkpoint resumes only on the same photos."""
    digest = hashlib.sha256()
    for photo in photos.photos:
        digest.update(str(tuple(photo.shape)).encode())
        digest.update(photo.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class SuperResTask(StripPreviews, AveragedGenerators, AugmentedJudging, Task):
    """SRResNet, then ESRGAN's GAN phase, on crops of one folder of photos."""

    kind = "pairs"
    stat_names = ("d_loss", "g_loss", "d_real", "d_fake", "l1", "perceptual")
    shown_stats = (("g_loss", "G", ".3f"), ("l1", "L1", ".4f"), ("d_loss", "D", ".3f"))
    other_data = "other photos (their pixels differ from these)"
    resumable = "--steps (the new total)"

    def __init__(self, photos: SRPhotos, options: SROptions = SROptions(), features: nn.Module | None = None,
                 samples: Path | None = None, device: torch.device = CPU, processes: Processes = SINGLE):
        super().__init__()
        self.processes = processes
        if photos.patch != options.patch or photos.scale != options.scale:
            raise ValueError("the photos' crop and scale must be the options'")
        self.photos, self.options, self.samples, self.device = photos, options, samples, device
        torch.manual_seed(options.seed)
        self.generator = build_sr_generator(asdict(options)).to(device)
        self.discriminator = PatchDiscriminator(3, options.d_width, options.d_layers).to(device)
        self.features = features.to(device) if features is not None else None
        self.opt_g = torch.optim.Adam(self.generator.parameters(), options.lr, betas=options.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), options.lr, betas=options.betas)
        self.batch_size = options.batch_size
        self.l1_gan = options.l1_gan if options.l1_gan is not None else (0.01 if self.features is not None else 1.0)
        self.fingerprint = photos_fingerprint(photos)
        low, high = photos.batch(FIXED_STEP, FIXED_CROPS, options.seed)
        self.fixed_low, self.fixed_high = to_model(low).to(device), to_model(high).to(device)
        self._average({"generator": self.generator}, options.ema)
        # the passes whose gradients are averaged over the processes (the networks themselves with one)
        self.generator_pass = processes.wrap(self.generator, device)
        self.discriminator_pass = processes.wrap(JudgedTogether(self.discriminator), device)
        self._start_augment(options.augment_p, processes)
        if processes.active:  # augmentation differs between the ranks (the weights above do not)
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
        options["perceptual"] = "inception" if self.features is not None else "none"
        if self.processes.active:  # the batches depend on the number of processes
            options["processes"] = self.processes.world
        return {"options": options, "data": self.fingerprint}

    # ----- one step --------------------------------------------------------------------------------------------
    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        """(low-resolution inputs, high-resolution targets) of `step`, in model space on the task's device."""
        low, high = self.photos.batch(step, self.batch_size * self.processes.world, self.options.seed)  # global
        return (to_model(rank_slice(low, self.processes)).to(self.device),
                to_model(rank_slice(high, self.processes)).to(self.device))

    def lr_factor(self, step: int) -> float:
        """The GAN phase trains at `gan_lr` (ESRGAN: 1e-4, after 2e-4 on pixels)."""
        gan_lr = self.options.gan_lr
        return gan_lr / self.options.lr if gan_lr is not None and self.in_gan_phase(step) else 1.0

    def in_gan_phase(self, step: int) -> bool:
        """Whether `step` trains with the discriminator (after the pixel phase)."""
        return step >= self.options.pixel_steps

    def log_fields(self, step: int) -> dict[str, Any]:
        # a line at `step` ends with step − 1
        return {"phase": "gan" if self.in_gan_phase(step - 1) else "pixels", **super().log_fields(step)}

    def train_step(self, step: int, measure: bool) -> Tensor:
        low, high = self.batch(step)
        fake = self.generator_pass(low)
        l1 = (fake - high).abs().mean()
        zero = l1.new_zeros(())
        if not self.in_gan_phase(step):
            self.opt_g.zero_grad(set_to_none=True)
            l1.backward()
            if measure:
                self.grad_norms = (grad_norm(self.generator), float("nan"))
            self.opt_g.step()
            self._update_averages()
            return torch.stack([zero, l1, zero, zero, l1, zero]).detach()
        real_logits, fake_logits = self.discriminator_pass(self.judged(high), self.judged(fake.detach()))
        d_loss = _relativistic(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        d_norm = grad_norm(self.discriminator) if measure else float("nan")
        self.opt_d.step()
        if self.ada is not None:
            self.ada.observe(real_logits)
        judged, real_again = self.discriminator(self.judged(fake)), self.discriminator(self.judged(high)).detach()
        adversarial = _relativistic(judged, real_again)
        perceptual = (self.features(fake) - self.features(high)).abs().mean() if self.features is not None else zero
        g_loss = self.l1_gan * l1 + self.options.perceptual_weight * perceptual + self.options.adversarial * adversarial
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        if measure:
            self.grad_norms = (grad_norm(self.generator), d_norm)
        self.opt_g.step()
        self.processes.average_buffers(self.discriminator)  # batch-norm statistics alike on every rank
        self._update_averages()
        d_real = torch.sigmoid(real_logits - fake_logits.mean()).mean()
        d_fake = torch.sigmoid(fake_logits - real_logits.mean()).mean()
        return torch.stack([d_loss, g_loss, d_real, d_fake, l1, perceptual]).detach()

    # ----- what the loop and the user look at ------------------------------------------------------------------
    @torch.no_grad()
    def upscale(self, low: Tensor) -> Tensor:
        """G's outputs for model-space inputs, in eval mode."""
        network = self.shown("generator")
        was = network.training
        network.eval()
        out = network(low)
        network.train(was)
        return out

    def fixed_samples(self) -> Tensor | None:
        return self.upscale(self.fixed_low).clamp(-1, 1).flatten(1)

    def real_samples(self, n: int) -> Tensor:
        return self.fixed_high[:n].flatten(1)

    def strip(self, count: int = STRIP_ROWS) -> Image.Image:
        """Bicubic | ours | high resolution for the first `count` fixed crops, one crop per row."""
        low = ((self.fixed_low[:count] + 1) * 127.5).round().byte().cpu()
        bicubic = torch.stack([to_model(to_tensor(upscaled(Image.fromarray(x.permute(1, 2, 0).numpy()),
                                                           self.options.scale))) for x in low]).to(self.device)
        return strip_picture([bicubic, self.upscale(self.fixed_low[:count]), self.fixed_high[:count]])


def _relativistic(first: Tensor, second: Tensor) -> Tensor:
    """ESRGAN's relativistic average loss that `first` is real and `second` fake: BCE(C(first) − mean C(second), 1)
    + BCE(C(second) − mean C(first), 0), halved."""
    ones, zeros = torch.ones_like(first), torch.zeros_like(second)
    return 0.5 * (F.binary_cross_entropy_with_logits(first - second.mean(), ones)
                  + F.binary_cross_entropy_with_logits(second - first.mean(), zeros))
