"""Adaptive discriminator augmentation (ADA; Karras et al. 2020, "Training GANs with limited data").

Every image D sees, real and generated alike, goes through each transform below with probability p, drawn per image
and per transform: x-flip, rotation by a multiple of 90°, integer translation (up to 1/8 of the size), isotropic
scaling (log-normal, σ = 0.2·ln 2), rotation (uniform), brightness (N(0, 0.2)), contrast (log-normal, σ = 0.5·ln 2) and,
for colour images, saturation (log-normal, σ = ln 2). The geometric transforms compose into one affine map per image,
applied with a single differentiable resampling (reflection at the borders, as in ADA), so G's gradients flow
through it and, below p ≈ 0.8, the augmentations do not leak into the generated images.

p is steered by how sure D is of the real images: r_t = E[sign(D(x_real))] over the last `interval` steps.
Above the target (0.6) D is overfitting, so p rises; below, it falls; the speed lets p move from 0 to 1 in
`speed_images` real images. ADA's own speed is 500,000 images, made for runs of millions; runs on a CPU see about a
hundred thousand, so the default here is 50,000.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

ADA_TARGET = 0.6
ADA_INTERVAL = 4  # steps between adjustments of p
ADA_SPEED_IMAGES = 50_000  # real images for p to go from 0 to 1 at the steepest
AUTO_LIMIT = 10_000  # `--augment-p auto` turns ADA on for image folders with fewer images than this


def _chosen(n: int, p: float, device: torch.device) -> Tensor:
    """(n,) booleans, each True with probability p."""
    return torch.rand(n, device=device) < p


def augment(x: Tensor, p: float) -> Tensor:
    """Each image of x (N, C, H, W) in [-1, 1], each transform applied with probability `p` (see the module)."""
    if p <= 0:
        return x
    n, channels, h, w = x.shape
    device, dtype = x.device, torch.float32
    # --- geometric: one 2×3 affine map (in normalised coordinates) per image
    eye = torch.eye(3, device=device, dtype=dtype).expand(n, 3, 3).clone()

    def then(matrix: Tensor, chosen: Tensor) -> None:
        eye[:] = torch.where(chosen.view(n, 1, 1), matrix @ eye, eye)

    flip = torch.eye(3, device=device, dtype=dtype).repeat(n, 1, 1)
    flip[:, 0, 0] = -1
    then(flip, _chosen(n, p, device))
    quarter = torch.randint(4, (n,), device=device).to(dtype) * (math.pi / 2)
    then(_rotation(quarter), _chosen(n, p, device))
    pixels = torch.tensor([w, h], device=device, dtype=dtype)
    offset = torch.round((torch.rand(n, 2, device=device) * 2 - 1) * 0.125 * pixels)  # whole pixels, up to 1/8
    move = torch.eye(3, device=device, dtype=dtype).repeat(n, 1, 1)
    move[:, :2, 2] = offset * 2 / pixels  # normalised coordinates span 2
    then(move, _chosen(n, p, device))
    scale = torch.exp(torch.randn(n, device=device) * (0.2 * math.log(2)))
    grow = torch.eye(3, device=device, dtype=dtype).repeat(n, 1, 1)
    grow[:, 0, 0] = grow[:, 1, 1] = 1 / scale
    then(grow, _chosen(n, p, device))
    then(_rotation((torch.rand(n, device=device) * 2 - 1) * math.pi), _chosen(n, p, device))
    if not torch.equal(eye, torch.eye(3, device=device, dtype=dtype).expand(n, 3, 3)):
        grid = F.affine_grid(eye[:, :2, :], [n, channels, h, w], align_corners=False)
        x = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="reflection",
                          align_corners=False).to(x.dtype)
    # --- colour
    shape = (n, 1, 1, 1)
    brightness = torch.randn(shape, device=device) * 0.2 * _chosen(n, p, device).view(shape)
    x = x + brightness.to(x.dtype)
    contrast = torch.exp(torch.randn(shape, device=device) * (0.5 * math.log(2)))
    contrast = torch.where(_chosen(n, p, device).view(shape), contrast, torch.ones_like(contrast))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast.to(x.dtype) + mean
    if channels == 3:
        saturation = torch.exp(torch.randn(shape, device=device) * math.log(2))
        saturation = torch.where(_chosen(n, p, device).view(shape), saturation, torch.ones_like(saturation))
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * saturation.to(x.dtype) + grey
    return x


def _rotation(angle: Tensor) -> Tensor:
    """(N, 3, 3) rotation matrices by `angle` radians."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrix = torch.eye(3, device=angle.device, dtype=angle.dtype).repeat(len(angle), 1, 1)
    matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 1, 0], matrix[:, 1, 1] = cos, -sin, sin, cos
    return matrix


class AdaptiveAugment:
    """The augmentation probability p and the rule that steers it; `fixed` keeps p where it was set."""

    def __init__(self, p: float = 0.0, adaptive: bool = True, target: float = ADA_TARGET,
                 interval: int = ADA_INTERVAL, speed_images: int = ADA_SPEED_IMAGES,
                 reduce: Callable[[Tensor], Tensor] | None = None, world: int = 1):
        self.p, self.adaptive, self.target = p, adaptive, target
        # sums over the `world` processes of a multi-process run, so every rank steers p alike
        self.reduce, self.world = reduce, world
        self.interval, self.speed_images = interval, speed_images
        self._signs: Tensor | float = 0.0  # sum of sign(D(x_real)) since the last adjustment
        self._count = 0
        self._steps = 0
        self.last_rt: float | None = None

    def __call__(self, x: Tensor) -> Tensor:
        return augment(x, self.p)

    def observe(self, real_logits: Tensor, images: int | None = None) -> None:
        """Accumulate the signs of D's logits on real images (`images` of them: more than logits when D judges
        packs); every `interval` calls, adjust p."""
        images = real_logits.numel() if images is None else images
        # each pack's sign stands for its images; no sync with the device here
        self._signs = self._signs + torch.sign(real_logits.detach().float()).sum() * (images / real_logits.numel())
        self._count += images
        self._steps += 1
        if self._steps < self.interval:
            return
        totals = torch.stack([torch.as_tensor(self._signs, dtype=torch.float64, device=real_logits.device),
                              torch.tensor(float(self._count), dtype=torch.float64, device=real_logits.device)])
        if self.reduce is not None:
            totals = self.reduce(totals)
        self.last_rt = float(totals[0]) / max(1.0, float(totals[1]))
        self._count = int(totals[1])
        if self.adaptive:
            direction = (self.last_rt > self.target) - (self.last_rt < self.target)  # 0 on target, as ADA's sign
            self.p = min(1.0, max(0.0, self.p + direction * self._count / self.speed_images))
        self._signs, self._count, self._steps = 0.0, 0, 0

    def state_dict(self) -> dict[str, Any]:
        """Plain-JSON state, so a resumed run steers p exactly as an unbroken one. With several processes the
        partial sums are first shared out evenly (their total, all the next adjustment reads, is unchanged), so
        that the one state a checkpoint keeps is every rank's."""
        if self.reduce is not None and self.world > 1 and self._steps:
            total = self.reduce(torch.as_tensor(self._signs, dtype=torch.float64).clone())
            self._signs = float(total) / self.world
        return {"p": self.p, "signs": float(self._signs), "count": self._count, "steps": self._steps,
                "rt": self.last_rt}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict` output."""
        self.p, self._signs = float(state["p"]), float(state["signs"])
        self._count, self._steps, self.last_rt = int(state["count"]), int(state["steps"]), state["rt"]
