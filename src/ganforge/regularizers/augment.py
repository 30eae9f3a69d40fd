"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to every image D sees, real and generated
alike, so D cannot overfit a small dataset and G's gradients flow through the augmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ganforge.errors import GanforgeError


def brightness(x: Tensor) -> Tensor:
    """Add a random offset in [−0.5, 0.5) per image (images in [−1, 1])."""
    return x + (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)


def saturation(x: Tensor) -> Tensor:
    """Scale the distance from the per-pixel grey level by a random factor in [0, 2)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean


def contrast(x: Tensor) -> Tensor:
    """Scale the distance from the image mean by a random factor in [0.5, 1.5)."""
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to `ratio` of its size, filling with zeros."""
    n, _, h, w = x.shape
    shift_y, shift_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-shift_y, shift_y + 1, (n, 1, 1), device=x.device)
    tx = torch.randint(-shift_x, shift_x + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    rows = (rows + ty + 1).clamp(0, h + 1)
    cols = (cols + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero a random square of `ratio` of the image size in each image."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = oy - size_y // 2, ox - size_x // 2
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES = {"color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,)}


def parse_policy(policy: str) -> list[str]:
    """'color,translation' → ['color', 'translation'], checking the names."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise GanforgeError(f"option --augment has unknown policy {unknown[0]!r}; expected a comma-separated list "
                            f"of {', '.join(POLICIES)}")
    return names


def diff_augment(x: Tensor, policy: list[str]) -> Tensor:
    """Apply the augmentation families in `policy`, independently random per image."""
    for name in policy:
        for op in POLICIES[name]:
            x = op(x)
    return x
