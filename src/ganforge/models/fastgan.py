"""A FastGAN-style family (Liu et al., ICLR 2021) for photos of 32 to 256 pixels and little data.

G: z → 4×4 (transposed conv, batch norm, GLU) → [nearest upsample, 3×3 conv, batch norm, GLU]… → 3×3 conv → tanh,
with skip-layer excitation (SLE): a low-resolution feature map gates the channels of one 16× larger, so global
structure steers fine detail at the cost of a few small convolutions.
D: [residual down block: strided 4×4 conv + 3×3 conv beside average pooling + 1×1 conv]… down to 4×4, spectral
normalisation on every convolution, → one logit. While it judges real images it also learns to reconstruct them
from its 8×8 features (the whole image, and one random quarter in more detail): a self-supervised task that makes
D keep features describing the image rather than only the few that separate the training set from fakes.

Not taken from FastGAN: its noise injection (fixed noise would no longer give fixed samples, which the health
monitor and exact resume rely on) and its LPIPS reconstruction loss (it needs downloaded VGG weights; an L1 loss on
pixels takes its place).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import GanforgeError
from ganforge.models import ModelOption, register
from ganforge.models.dcgan import init_dcgan_weights
from ganforge.models.layers import MinibatchStd
from ganforge.regularizers.spectral import apply_spectral_norm

SUPPORTED_SIZES = (32, 64, 128, 256)
# channel multipliers of the base width by resolution, after FastGAN's `nfc` table
WIDTH = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 1}
RECONSTRUCTION_SIZE = 32  # the decoders draw 32×32 images (FastGAN: 128×128 at 1024 pixels)


def _sn_conv(inner: int, outer: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True) -> nn.Module:
    """A convolution that the discriminator spectrally normalises once it is initialised."""
    return nn.Conv2d(inner, outer, kernel, stride, padding, bias=bias)


class UpBlock(nn.Module):
    """Double the resolution: nearest upsampling, 3×3 conv to twice the channels, batch norm, GLU."""

    def __init__(self, inner: int, outer: int, convs: int = 1):
        super().__init__()
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")]
        for i in range(convs):
            layers += [nn.Conv2d(inner if i == 0 else outer, outer * 2, 3, 1, 1, bias=False),
                       nn.BatchNorm2d(outer * 2), nn.GLU(dim=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class SkipExcitation(nn.Module):
    """SLE: a small feature map → per-channel gates in (0, 1) for a feature map of a higher resolution."""

    def __init__(self, source: int, target: int):
        super().__init__()
        self.gates = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(source, target, 4, 1, 0, bias=False),
                                   nn.SiLU(), nn.Conv2d(target, target, 1, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, low: Tensor, high: Tensor) -> Tensor:
        return high * self.gates(low)


class FastGANGenerator(nn.Module):
    """Noise (N, latent_dim) → images (N, C, size, size) in [-1, 1]."""

    def __init__(self, latent_dim: int, channels: int, size: int, width: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.resolutions = [4 * 2**i for i in range(int(math.log2(size)) - 1)]  # 4, 8, …, size
        widths = {r: max(8, int(WIDTH[r] * width)) for r in self.resolutions}
        self.start = nn.Sequential(nn.ConvTranspose2d(latent_dim, widths[4] * 2, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[4] * 2), nn.GLU(dim=1))
        # every other block has two convolutions, as FastGAN alternates its plain and "comp" up blocks
        self.ups = nn.ModuleDict({str(r): UpBlock(widths[r // 2], widths[r], convs=1 + (i % 2 == 0))
                                  for i, r in enumerate(self.resolutions[1:])})
        # excite each resolution from one 16× smaller (FastGAN: 4→64, 8→128, 16→256); 32 pixels from 4
        self.excite = nn.ModuleDict({str(r): SkipExcitation(widths[max(4, r // 16)], widths[r])
                                     for r in self.resolutions if r >= 32})
        self.to_image = nn.Sequential(nn.Conv2d(widths[size], channels, 3, 1, 1), nn.Tanh())
        self.apply(init_dcgan_weights)

    def forward(self, z: Tensor) -> Tensor:
        features = {4: self.start(z.view(*z.shape, 1, 1))}
        x = features[4]
        for r in self.resolutions[1:]:
            x = self.ups[str(r)](x)
            if str(r) in self.excite:
                x = self.excite[str(r)](features[max(4, r // 16)], x)
            features[r] = x
        return self.to_image(x)


class DownBlock(nn.Module):
    """Halve the resolution: (strided 4×4 conv, batch norm, LeakyReLU, 3×3 conv, batch norm, LeakyReLU) averaged with
    (2×2 average pooling, 1×1 conv, batch norm, LeakyReLU); spectral norm on the convolutions."""

    def __init__(self, inner: int, outer: int):
        super().__init__()
        self.main = nn.Sequential(_sn_conv(inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer),
                                  nn.LeakyReLU(0.2, True), _sn_conv(outer, outer, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(outer), nn.LeakyReLU(0.2, True))
        self.direct = nn.Sequential(nn.AvgPool2d(2, 2), _sn_conv(inner, outer, 1, 1, 0, bias=False),
                                    nn.BatchNorm2d(outer), nn.LeakyReLU(0.2, True))

    def forward(self, x: Tensor) -> Tensor:
        return (self.main(x) + self.direct(x)) / 2


class Decoder(nn.Module):
    """Features (N, C, s, s) → an image (N, channels, 32, 32): upsampling blocks, then a 3×3 conv and tanh."""

    def __init__(self, inner: int, channels: int, side: int):
        super().__init__()
        widths = [inner] + [max(16, inner // 2**i) for i in range(1, int(math.log2(RECONSTRUCTION_SIZE // side)) + 1)]
        layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(side)]
        layers += [UpBlock(a, b) for a, b in itertools.pairwise(widths)]
        layers += [nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class FastGANDiscriminator(nn.Module):
    """Images (N, C, size, size) → one logit per image (N,); reconstructs real images when asked (`reconstructing`).
    """

    def __init__(self, channels: int, size: int, width: int, minibatch_std: bool = False,
                 reconstruction: bool = True):
        super().__init__()
        resolutions = [size // 2**i for i in range(int(math.log2(size)) - 1)]  # size, size/2, …, 4
        widths = {r: max(8, int(WIDTH[r] * width)) for r in resolutions}
        self.stem = nn.Sequential(_sn_conv(channels, widths[size], 3, 1, 1), nn.LeakyReLU(0.2, True))
        self.downs = nn.ModuleDict({str(r): DownBlock(widths[2 * r], widths[r]) for r in resolutions[1:]})
        self.minibatch_std = MinibatchStd() if minibatch_std else None
        self.logit = _sn_conv(widths[4] + int(minibatch_std), 1, 4, 1, 0)
        self.channels = channels
        # self-supervision: decode the whole image from the 8×8 features, and one quarter of it from the 16×16 ones
        self.decoders = nn.ModuleDict({"whole": Decoder(widths[8], channels, 8),
                                       "part": Decoder(widths[16], channels, 8)}) if reconstruction else None
        self.reconstruct = False  # set by `reconstructing`
        self.reconstruction_loss: Tensor | None = None
        self.apply(init_dcgan_weights)
        apply_spectral_norm(self)

    def features(self, x: Tensor) -> Tensor:
        """φ(x): the 4×4 feature map the last convolution reads (for conditional discriminators)."""
        image = x
        kept: dict[int, Tensor] = {}
        x = self.stem(x)
        for r, block in self.downs.items():
            x = block(x)
            kept[int(r)] = x
        if self.reconstruct and self.decoders is not None:
            self.reconstruction_loss = self._reconstruction(image, kept[8], kept[16])
        if self.minibatch_std is not None:
            x = self.minibatch_std(x)
        return x

    def _reconstruction(self, image: Tensor, whole: Tensor, detail: Tensor) -> Tensor:
        """L1 between the decoders' images and the real image: whole at 32×32, and one random quarter (the same
        for the whole batch, as in FastGAN) at 32×32 from that quarter of the 16×16 features."""
        image = image.detach()  # the data is the target (a concat discriminator's label planes are not trained by it)
        target = F.interpolate(image.float(), size=RECONSTRUCTION_SIZE, mode="area")
        loss = F.l1_loss(self.decoders["whole"](whole).float(), target)
        quarter = int(torch.randint(4, (1,)))
        half_f, half_i = detail.shape[-1] // 2, image.shape[-1] // 2
        fy, fx = (quarter // 2) * half_f, (quarter % 2) * half_f
        iy, ix = (quarter // 2) * half_i, (quarter % 2) * half_i
        part_target = F.interpolate(image[..., iy : iy + half_i, ix : ix + half_i].float(),
                                    size=RECONSTRUCTION_SIZE, mode="area")
        part = self.decoders["part"](detail[..., fy : fy + half_f, fx : fx + half_f]).float()
        return loss + F.l1_loss(part, part_target)

    def head(self, features: Tensor) -> Tensor:
        """ψ: the last convolution, one logit per sample."""
        return self.logit(features).flatten()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def probability(self, x: Tensor) -> Tensor:
        """D(x): the probability that x is real."""
        return torch.sigmoid(self(x))


@contextmanager
def reconstructing(discriminator: nn.Module) -> Iterator[list[Tensor]]:
    """Within the block, discriminators that can reconstruct do so on what they judge; afterwards the list holds
    their reconstruction losses (empty for families without decoders). Use it around D's pass on real samples."""
    found = [m for m in discriminator.modules() if isinstance(m, FastGANDiscriminator) and m.decoders is not None]
    losses: list[Tensor] = []
    for module in found:
        module.reconstruct, module.reconstruction_loss = True, None
    try:
        yield losses
    finally:
        for module in found:
            module.reconstruct = False
            if module.reconstruction_loss is not None:
                losses.append(module.reconstruction_loss)
            module.reconstruction_loss = None


@register("fastgan", "FastGAN-style pair for photos of 32 to 256 pixels and little data: skip-layer excitation in G, "
          "a self-supervised D with spectral norm", ("image",),
          training={"lr_g": 2e-4, "lr_d": 2e-4, "batch_size": 32},
          options=(ModelOption("latent_dim", int, 128, "size of the noise vector z"),
                   ModelOption("g_width", int, 16, "generator width: base channels (16× at 4×4 pixels)"),
                   ModelOption("d_width", int, 16, "discriminator width: base channels (16× at 4×4 pixels)"),
                   ModelOption("minibatch_std", bool, False,
                               "minibatch standard-deviation feature in the discriminator"),
                   ModelOption("reconstruction", bool, True,
                               "D also learns to reconstruct real images from its features (self-supervision)")))
def build_fastgan(sample_shape: tuple[int, ...], latent_dim: int, g_width: int, d_width: int, minibatch_std: bool,
                  reconstruction: bool, d_channels: int | None = None) -> tuple[nn.Module, nn.Module]:
    """A FastGAN-style pair for (C, size, size) images; size must be a power of two from 32 to 256."""
    channels, height, width = sample_shape
    if height != width or height not in SUPPORTED_SIZES:
        raise GanforgeError(f"image size {height}×{width} is not supported by model fastgan; expected --image-size "
                            f"one of {', '.join(map(str, SUPPORTED_SIZES))}")
    return (FastGANGenerator(latent_dim, channels, height, g_width),
            FastGANDiscriminator(d_channels or channels, height, d_width, minibatch_std, reconstruction))
