"""The super-resolution generator: SRResNet (Ledig et al. 2017) as EDSR and ESRGAN revised it.

A 9×9 convolution, `blocks` residual blocks (3×3 convolution, PReLU, 3×3 convolution) without batch norm, which
EDSR and ESRGAN found to cause artefacts and to cost capacity, a convolution joined to the head by a long skip, then
sub-pixel upsampling (a convolution to 4× the channels and a pixel shuffle per factor 2; one of 9× for ×3) and a
9×9 convolution to RGB. The network learns the residual over a bicubic upsampling of its input, and its last
convolution starts at zero, so an untrained network is exactly bicubic, and a short CPU fit starts from bicubic's
PSNR rather than below it. The paper's size is width 64 and 16 blocks; the CPU default is half of each.
"""

from __future__ import annotations

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
