"""The image-to-image networks of pix2pix (Isola et al. 2017): a U-Net generator and the PatchGAN discriminator.

U-Net: the input goes down by stride-2 4×4 convolutions to 1×1 (one per halving: 8 at 256 px, 6 at 64 px), and
back up by stride-2 4×4 transposed convolutions, each joined to the encoder's output of its size, so detail that
the bottleneck cannot carry passes straight across. Batch norm everywhere but the first encoder layer and the 1×1
bottleneck (a batch of one has a single value there); dropout 0.5 in the three innermost decoder blocks, the
paper's only noise (pix2pix keeps it on when translating); tanh out. Widths double from `width` up to 8× it, as
the paper's 64 → 512.

PatchGAN: the pair (input and output images, channels side by side) through 4×4 convolutions, `layers` of stride
2 then one of stride 1 and a 1-channel one, so each logit judges one patch: 70×70 pixels with the paper's three
layers. Its `receptive_field` is computed from the layers, and a test measures it by gradients.

`tiled` runs any such network over an image of any size in overlapping tiles with blended seams.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import GanforgeError

MAX_WIDTH_MULTIPLIER = 8
DROPOUT_BLOCKS = 3  # the innermost decoder blocks that drop out


def _init(module: nn.Module) -> None:
    """pix2pix's initialisation: weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class UNetGenerator(nn.Module):
    """Images (N, in_channels, S, S) → (N, out_channels, S, S) in [-1, 1]; S a power of two from 8."""

    def __init__(self, in_channels: int, out_channels: int, size: int, width: int = 64, dropout: float = 0.5):
        super().__init__()
        depth = round(math.log2(size)) if size >= 8 else 0
        if 2**depth != size:
            raise GanforgeError(f"option --image-size {size}: the U-Net needs a power of two from 8")
        widths = [width * min(2**i, MAX_WIDTH_MULTIPLIER) for i in range(depth)]
        self.down = nn.ModuleList()
        for i, channels in enumerate(widths):
            before = in_channels if i == 0 else widths[i - 1]
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(before, channels, 4, 2, 1, bias=i in (0, depth - 1)))
            if 0 < i < depth - 1:
                layers.append(nn.BatchNorm2d(channels))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):  # the decoder block that makes the size of encoder output i − 1
            incoming = widths[i] if i == depth - 1 else 2 * widths[i]
            if i == 0:
                layers = [nn.ReLU(), nn.ConvTranspose2d(incoming, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                layers = [nn.ReLU(), nn.ConvTranspose2d(incoming, widths[i - 1], 4, 2, 1, bias=False),
                          nn.BatchNorm2d(widths[i - 1])]
                if depth - 1 - i < DROPOUT_BLOCKS and dropout > 0:  # the paper's first three decoder layers
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.apply(_init)

    def forward(self, x: Tensor) -> Tensor:
        """Translate a batch of images."""
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for block in self.up[1:]:
            x = block(torch.cat([x, skips.pop()], 1))
        return x


class PatchDiscriminator(nn.Module):
    """A pair (N, channels, S, S), input and output side by side in channels (or, for CycleGAN, one image) →
    logits (N, 1, h, w), one per patch."""

    def __init__(self, channels: int, width: int = 64, layers: int = 3, norm: str = "batch"):
        super().__init__()
        normalised = nn.BatchNorm2d if norm == "batch" else nn.InstanceNorm2d  # CycleGAN's D: instance norm
        blocks: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        before = width
        for i in range(1, layers + 1):
            after = width * min(2**i, MAX_WIDTH_MULTIPLIER)
            stride = 2 if i < layers else 1
            blocks += [nn.Conv2d(before, after, 4, stride, 1, bias=False), normalised(after), nn.LeakyReLU(0.2)]
            before = after
        blocks.append(nn.Conv2d(before, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)
        self.layers = layers
        self.apply(_init)

    @property
    def receptive_field(self) -> int:
        """The side in pixels of the patch one logit sees: 70 with three layers."""
        field, jump = 1, 1
        for module in self.net:
            if isinstance(module, nn.Conv2d):
                field += (module.kernel_size[0] - 1) * jump
                jump *= module.stride[0]
        return field

    def forward(self, pair: Tensor) -> Tensor:
        """One logit per patch."""
        return self.net(pair)


def _ramp(length: int, overlap: int, blend_start: bool, blend_end: bool) -> Tensor:
    """A tile's weights along one side: 0 within a quarter overlap of a side shared with a neighbour, rising
    linearly to 1 at three quarters, so two neighbours' weights sum to 1 across their overlap; 1 at the image's
    border."""
    d = torch.arange(length, dtype=torch.float32) + 0.5
    weights = torch.ones(length)
    if overlap > 0:
        rise = lambda x: ((x - overlap / 4) / (overlap / 2)).clamp(0, 1)  # noqa: E731
        if blend_start:
            weights = torch.minimum(weights, rise(d))
        if blend_end:
            weights = torch.minimum(weights, rise(length - d))
    return weights


def _starts(extent: int, tile: int, stride: int) -> list[int]:
    if extent <= tile:
        return [0]
    return [*range(0, extent - tile, stride), extent - tile]


@torch.no_grad()
def tiled(translate: Callable[[Tensor], Tensor], image: Tensor, tile: int, overlap: int, scale: int = 1,
          batch: int = 8) -> Tensor:
    """`translate` (N, C, tile, tile) → (N, C', tile·scale, tile·scale) applied to an image (C, H, W) of any size, in
    overlapping tiles whose seams are blended. A pixel takes only tiles in which it lies at least a quarter of the
    overlap from a shared side, so where the network sees less than that around a pixel, the result equals one pass
    over the whole image. An image smaller than a tile is padded by reflection, and the padding is cut off."""
    if not 0 <= overlap < tile:
        raise GanforgeError(f"option --overlap {overlap}: must be at least 0 and less than the tile ({tile})")
    height, width = image.shape[-2:]
    padded_h, padded_w = max(height, tile), max(width, tile)
    if (padded_h, padded_w) != (height, width):
        mode = "reflect" if padded_h - height < height and padded_w - width < width else "replicate"
        image = F.pad(image[None], (0, padded_w - width, 0, padded_h - height), mode=mode)[0]
    rows, cols = _starts(padded_h, tile, tile - overlap), _starts(padded_w, tile, tile - overlap)
    places = [(top, left) for top in rows for left in cols]
    out = weight = None
    for first in range(0, len(places), batch):
        chunk = places[first : first + batch]
        results = translate(torch.stack([image[:, t : t + tile, lft : lft + tile] for t, lft in chunk]))
        if out is None:
            out = results.new_zeros(results.shape[1], padded_h * scale, padded_w * scale)
            weight = results.new_zeros(1, padded_h * scale, padded_w * scale)
        for (top, left), result in zip(chunk, results, strict=True):
            along_h = _ramp(tile * scale, overlap * scale, top > 0, top + tile < padded_h)
            along_w = _ramp(tile * scale, overlap * scale, left > 0, left + tile < padded_w)
            mask = (along_h[:, None] * along_w[None, :]).to(result)
            region = (slice(None), slice(top * scale, (top + tile) * scale), slice(left * scale, (left + tile) * scale))
            out[region] += result * mask
            weight[region] += mask
    return (out / weight)[:, : height * scale, : width * scale]


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
                                  nn.ReLU(), nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
                                  nn.InstanceNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator (Zhu et al. 2017, after Johnson et al.): a 7×7 convolution, two stride-2 downsamplings,
    `blocks` residual blocks (the paper: 6 at 128 px, 9 at 256), two stride-2 upsamplings and a 7×7 convolution to
    tanh; instance norm throughout. Images (N, in, S, S) → (N, out, S, S), S a multiple of 4."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 6):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), nn.InstanceNorm2d(width),
                                   nn.ReLU()]
        for i in range(2):
            layers += [nn.Conv2d(width * 2**i, width * 2 ** (i + 1), 3, 2, 1), nn.InstanceNorm2d(width * 2 ** (i + 1)),
                       nn.ReLU()]
        layers += [_Residual(width * 4) for _ in range(blocks)]
        for i in reversed(range(2)):
            layers += [nn.ConvTranspose2d(width * 2 ** (i + 1), width * 2**i, 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(width * 2**i), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_init)

    def forward(self, x: Tensor) -> Tensor:
        """Translate a batch of images."""
        return self.net(x)
