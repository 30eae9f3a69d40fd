"""The DCGAN family (Radford et al. 2016), sized from the image: one upsampling block per doubling from 4×4.

G: z → dense projection to (C₀, 4, 4) → batch norm → ReLU → [transposed conv ×2, batch norm, ReLU]… → tanh.
D: [strided conv, (batch norm after the first block), LeakyReLU(0.2)]… → 4×4 conv → one logit.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError
from ganforge.models import ModelOption, register
from ganforge.models.layers import MinibatchStd

SUPPORTED_SIZES = (16, 32, 64, 128, 256)
MAX_WIDTH_MULTIPLIER = 8  # caps channels at 8× the base width, as DCGAN does at 64×64


def init_dcgan_weights(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: conv/linear weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _widths(size: int, base: int) -> list[int]:
    """Channels at 4×4, 8×8, …, size/2 × size/2 (generator order), capped at 8× base."""
    blocks = int(math.log2(size)) - 2
    return [base * min(MAX_WIDTH_MULTIPLIER, 2 ** (blocks - 1 - i)) for i in range(blocks)]


class DCGANGenerator(nn.Module):
    """Noise (N, latent_dim) → images (N, C, size, size) in [-1, 1]."""

    def __init__(self, latent_dim: int, channels: int, size: int, width: int):
        super().__init__()
        widths = _widths(size, width)
        self.latent_dim = latent_dim
        self.start_shape = (widths[0], 4, 4)
        self.project = nn.Linear(latent_dim, widths[0] * 16, bias=False)
        self.project_norm = nn.BatchNorm2d(widths[0])
        blocks: list[nn.Module] = []
        for inner, outer in itertools.pairwise(widths):
            blocks += [nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer), nn.ReLU(True)]
        blocks += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)
        self.apply(init_dcgan_weights)

    def forward(self, z: Tensor) -> Tensor:
        x = self.project(z).view(-1, *self.start_shape)
        return self.blocks(torch.relu(self.project_norm(x)))


class DCGANDiscriminator(nn.Module):
    """Images (N, C, size, size) → one logit per image (N,)."""

    def __init__(self, channels: int, size: int, width: int, minibatch_std: bool = False):
        super().__init__()
        widths = list(reversed(_widths(size, width)))
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for inner, outer in itertools.pairwise(widths):
            layers += [nn.Conv2d(inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer), nn.LeakyReLU(0.2, True)]
        if minibatch_std:
            layers.append(MinibatchStd())
        layers.append(nn.Conv2d(widths[-1] + int(minibatch_std), 1, 4, 1, 0))
        self.layers = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x).flatten()

    def features(self, x: Tensor) -> Tensor:
        """φ(x): the 4×4 feature map the last convolution reads (for conditional discriminators)."""
        return self.layers[:-1](x)

    def head(self, features: Tensor) -> Tensor:
        """ψ: the last convolution, one logit per sample."""
        return self.layers[-1](features).flatten()

    def probability(self, x: Tensor) -> Tensor:
        """D(x): the probability that x is real."""
        return torch.sigmoid(self(x))


@register("dcgan", "convolutional DCGAN for images of 16 to 256 pixels", ("image",),
          training={"lr_g": 2e-4, "lr_d": 2e-4, "batch_size": 64},  # the DCGAN paper's settings
          options=(ModelOption("latent_dim", int, 100, "size of the noise vector z"),
                   ModelOption("g_width", int, 64, "generator width: base channels"),
                   ModelOption("d_width", int, 64, "discriminator width: base channels"),
                   ModelOption("minibatch_std", bool, False,
                               "minibatch standard-deviation feature in the discriminator")))
def build_dcgan(sample_shape: tuple[int, ...], latent_dim: int, g_width: int, d_width: int,
                minibatch_std: bool, d_channels: int | None = None) -> tuple[nn.Module, nn.Module]:
    """A DCGAN pair for (C, size, size) images; size must be a power of two from 16 to 256."""
    channels, height, width = sample_shape
    if height != width or height not in SUPPORTED_SIZES:
        raise GanforgeError(
            f"image size {height}×{width} is not supported by model dcgan; "
            f"expected --image-size one of {', '.join(map(str, SUPPORTED_SIZES))}"
        )
    return (DCGANGenerator(latent_dim, channels, height, g_width),
            DCGANDiscriminator(d_channels or channels, height, d_width, minibatch_std))
