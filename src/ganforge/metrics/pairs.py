"""Scores of translated images against their targets, as the image-restoration papers compute them.

PSNR and SSIM are measured on the luma channel Y of ITU-R BT.601 in its studio range (16–235, as MATLAB's
`rgb2ycbcr`, which SRGAN's and BasicSR's figures use), on images rounded to 8 bits, with `crop` pixels cut from every
border (the super-resolution protocol crops the scale factor), and averaged over images. RGB figures differ by
about 2 dB, so the channel is always stated. SSIM is Wang et al.'s: an 11×11 Gaussian window of σ 1.5, K1 0.01,
K2 0.03 (torchmetrics' implementation). L1 is the mean absolute difference on [-1, 1] images, as pix2pix's loss.
"""

from __future__ import annotations

import torch
from torch import Tensor

BT601_Y = (65.481, 128.553, 24.966)  # × [0, 1] RGB, + 16: Y in [16, 235]


def luma(images: Tensor) -> Tensor:
    """8-bit images (N, 3 or 1, H, W), as floats in [0, 255], → their Y (N, 1, H, W) in [16, 235]; a gray image is
    read as R = G = B."""
    images = images.double() / 255.0
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    weights = torch.tensor(BT601_Y, dtype=torch.float64, device=images.device)[None, :, None, None]
    return 16.0 + (images * weights).sum(1, keepdim=True)


def _cropped(images: Tensor, crop: int) -> Tensor:
    return images[..., crop : images.shape[-2] - crop, crop : images.shape[-1] - crop] if crop else images


def psnr_y(outputs: Tensor, targets: Tensor, crop: int = 0) -> float:
    """Mean PSNR (dB) of 8-bit outputs against targets on Y; an identical pair counts as 100 dB (BasicSR's cap is
    infinite, which no mean survives)."""
    a, b = _cropped(luma(outputs), crop), _cropped(luma(targets), crop)
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return float(torch.where(mse > 0, 10 * torch.log10(255.0**2 / mse.clamp_min(1e-20)), 100.0).mean())


def ssim_y(outputs: Tensor, targets: Tensor, crop: int = 0) -> float:
    """Mean SSIM of 8-bit outputs against targets on Y (data range 255)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    a, b = _cropped(luma(outputs), crop), _cropped(luma(targets), crop)
    return float(structural_similarity_index_measure(a, b, data_range=255.0, reduction="elementwise_mean"))


def l1(outputs: Tensor, targets: Tensor) -> float:
    """Mean |output − target| of 8-bit images mapped to [-1, 1]."""
    return float((outputs.double() - targets.double()).abs().mean() / 127.5)


def pair_scores(outputs: Tensor, targets: Tensor, crop: int = 0) -> dict[str, float]:
    """L1, PSNR and SSIM (Y) of 8-bit outputs (N, C, H, W) against their targets."""
    return {"l1": l1(outputs, targets), "psnr_y": psnr_y(outputs, targets, crop),
            "ssim_y": ssim_y(outputs, targets, crop)}
