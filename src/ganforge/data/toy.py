"""Two-dimensional Gaussian mixtures used throughout the mode-collapse literature.

The parameters are exactly those of the PacGAN / VEEGAN benchmarks (later metrics and benchmarks rely on them):
`ring` is 8 Gaussians on the unit circle at angles 2πk/8 with std 0.01; `grid` is 25 Gaussians at {−4,−2,0,2,4}²
with std 0.05.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganforge.data.base import Codec, Dataset

TOY_SIZE = 100_000
TOY_DATA_SEED = 2018  # fixed, so every training seed sees the same dataset


def ring_modes() -> Tensor:
    """The 8 mode centres of `ring`."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return torch.stack([angles.cos(), angles.sin()], dim=1)


def grid_modes() -> Tensor:
    """The 25 mode centres of `grid`."""
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0], dtype=torch.float64)
    return torch.cartesian_prod(axis, axis)


def mixture(name: str, modes: Tensor, std: float, n: int = TOY_SIZE) -> Dataset:
    """`n` points drawn evenly at random from isotropic Gaussians at `modes`."""
    generator = torch.Generator().manual_seed(TOY_DATA_SEED)
    which = torch.randint(len(modes), (n,), generator=generator)
    points = modes[which] + std * torch.randn(n, modes.shape[1], generator=generator, dtype=torch.float64)
    points = points.float()
    codec = Codec.for_vectors(points)
    info = {"modes": modes.tolist(), "mode_std": std}
    return Dataset(name, codec, codec.encode(points), info)


def ring() -> Dataset:
    """8 Gaussians on the unit circle, std 0.01."""
    return mixture("ring", ring_modes(), 0.01)


def grid() -> Dataset:
    """25 Gaussians on a 5×5 grid with spacing 2, std 0.05."""
    return mixture("grid", grid_modes(), 0.05)
