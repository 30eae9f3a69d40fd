"""The super-resolution generator: SRResNet (Ledig et al. 2017) as EDSR and ESRGAN revised it.

A 9×9 convolution, `blocks` residual blocks (3×3 convolution, PReLU, 3×3 convolution) without batch norm, which
EDSR and ESRGAN found to cause artefacts and to cost capacity, a convolution joined to the head by a long skip, then
sub-pixel upsampling (a convolution to 4× the channels and a pixel shuffle per factor 2; one of 9× for ×3) and a
9×9 convolution to RGB. The network learns the residual over a bicubic upsampling of its input, and its last
convolution starts at zero, so an untrained network is exactly bicubic, and a short CPU fit starts from bicubic's
PSNR rather than below it. The paper's size is width 64 and 16 blocks; the CPU default is half of each.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import GanforgeError

PERCEPTUAL = ("auto", "inception", "none")  # the perceptual loss's feature networks (training.superres)


class _Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.PReLU(width),
                                  nn.Conv2d(width, width, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """Images (N, C, h, w) in [-1, 1] → (N, C, h·scale, w·scale); values may pass ±1 slightly (clamp to show)."""

    def __init__(self, channels: int = 3, width: int = 32, blocks: int = 8, scale: int = 4):
        super().__init__()
        factors = {2: [2], 3: [3], 4: [2, 2], 8: [2, 2, 2]}
        if scale not in factors:
            raise GanforgeError(f"option --scale {scale}: choose one of {', '.join(map(str, factors))}")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU(width))
        self.body = nn.Sequential(*[_Block(width) for _ in range(blocks)], nn.Conv2d(width, width, 3, padding=1))
        upsampling: list[nn.Module] = []
        for factor in factors[scale]:
            upsampling += [nn.Conv2d(width, width * factor**2, 3, padding=1), nn.PixelShuffle(factor),
                           nn.PReLU(width)]
        self.up = nn.Sequential(*upsampling)
        self.tail = nn.Conv2d(width, channels, 9, padding=4)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Upscale a batch of images."""
        features = self.head(x)
        residual = self.tail(self.up(features + self.body(features)))
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False) + residual


class _DenseBlock(nn.Module):
    """ESRGAN's residual dense block: five 3×3 convolutions, each seeing the block's input and every earlier one's
    output (LeakyReLU 0.2 between), the last back to `width` channels, added to the input at a scale of 0.2."""

    def __init__(self, width: int, growth: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(width + i * growth, growth if i < 4 else width, 3, padding=1)
                                   for i in range(5))

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for conv in self.convs[:-1]:
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
        return x + 0.2 * self.convs[-1](torch.cat(features, 1))


class _RRDB(nn.Module):
    """Residual in residual: three dense blocks, their sum added to the input at a scale of 0.2."""

    def __init__(self, width: int, growth: int):
        super().__init__()
        self.body = nn.Sequential(*[_DenseBlock(width, growth) for _ in range(3)])

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.2 * self.body(x)


class RRDBNet(nn.Module):
    """ESRGAN's generator (Wang et al. 2018): a 3×3 convolution, `blocks` residual-in-residual dense blocks and a
    convolution joined to the head by a long skip, then per factor a nearest-neighbour upsampling and a 3×3
    convolution (LeakyReLU 0.2), a convolution and one to RGB. As `SRResNet` here it learns the residual over
    bicubic, its last convolution starting at zero, so an untrained network is exactly bicubic. The paper's size is
    width 64, growth 32 and 23 blocks; the CPU default is width 32, growth 16 and 3 blocks."""

    def __init__(self, channels: int = 3, width: int = 32, blocks: int = 3, scale: int = 4, growth: int = 16):
        super().__init__()
        factors = {2: [2], 3: [3], 4: [2, 2], 8: [2, 2, 2]}
        if scale not in factors:
            raise GanforgeError(f"option --scale {scale}: choose one of {', '.join(map(str, factors))}")
        self.scale, self.factors = scale, factors[scale]
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*[_RRDB(width, growth) for _ in range(blocks)], nn.Conv2d(width, width, 3, padding=1))
        self.up = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in self.factors)
        self.high = nn.Conv2d(width, width, 3, padding=1)
        self.tail = nn.Conv2d(width, channels, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Upscale a batch of images."""
        features = self.head(x)
        features = features + self.body(features)
        for factor, conv in zip(self.factors, self.up, strict=True):
            features = F.leaky_relu(conv(F.interpolate(features, scale_factor=factor, mode="nearest")), 0.2)
        residual = self.tail(F.leaky_relu(self.high(features), 0.2))
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False) + residual


SR_GENERATORS = ("srresnet", "rrdb")  # --sr-generator


def sr_generator(name: str, channels: int, width: int, blocks: int, scale: int, growth: int = 16) -> nn.Module:
    """The super-resolution generator `name` (`SR_GENERATORS`): `blocks` residual blocks (SRResNet) or RRDBs."""
    if name == "rrdb":
        return RRDBNet(channels, width, blocks, scale, growth)
    return SRResNet(channels, width, blocks, scale)
