"""Scores of translated images against their targets, as the image-restoration papers compute them.

PSNR and SSIM are measured on the luma channel Y of ITU-R BT.601 in its studio range (16–235, as MATLAB's
`rgb2ycbcr`, which SRGAN's and BasicSR's figures use), on images rounded to 8 bits, with `crop` pixels cut from every
border (the super-resolution protocol crops the scale factor), and averaged over images. RGB figures differ by
about 2 dB, so the channel is always stated. SSIM is Wang et al.'s: an 11×11 Gaussian window of σ 1.5, K1 0.01,
K2 0.03 (torchmetrics' implementation). L1 is the mean absolute difference on [-1, 1] images, as pix2pix's loss.

FD and KID say whether the outputs look like the target domain as a set, which the pair scores cannot (a blurry
output scores well on PSNR): the FID Inception's pool features of the outputs against those of the targets (pix2pix,
super-resolution) or of the other domain's images (CycleGAN). Images of unequal sizes (whole super-resolution test
images) are cut into 64-pixel crops first: one size for all, and enough features from a handful of test images for a
covariance (Set5 gives 127 crops).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Metric, register_metric
from ganforge.metrics.frechet import FrechetDistance
from ganforge.metrics.kid import KernelDistance

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


FD_CROP = 64  # pixels: whole images of different sizes are compared as crops of one size


def crops(image: Tensor, size: int = FD_CROP) -> list[Tensor]:
    """Non-overlapping `size`-pixel crops of one (C, H, W) image, row by row; an image smaller than `size` stays
    whole."""
    _, height, width = image.shape
    if height < size or width < size:
        return [image]
    return [image[:, top : top + size, left : left + size] for top in range(0, height - size + 1, size)
            for left in range(0, width - size + 1, size)]


@torch.no_grad()
def inception_features(network: nn.Module, images: Tensor | Sequence[Tensor], batch: int = 32) -> Tensor:
    """The network's pool features of 8-bit images ((N, C, H, W) floats or uint8 in [0, 255], 1 or 3 channels, or a
    list of equal-size (C, H, W) ones), in batches."""
    features = []
    for first in range(0, len(images), batch):
        chunk = images[first : first + batch]
        chunk = torch.stack(list(chunk)) if not isinstance(chunk, Tensor) else chunk
        features.append(network(chunk.float() / 255)[0].double())
    return torch.cat(features)


def distribution_scores(network: nn.Module, outputs: Tensor | Sequence[Tensor],
                        targets: Tensor | Sequence[Tensor], seed: int = 0) -> dict[str, float]:
    """FD and KID (± over 100 subsets) of 8-bit outputs against 8-bit targets in `network`'s features; lists of
    whole images of different sizes are compared as `FD_CROP`-pixel crops (`crops`; smaller where an image is)."""
    whole = [images for images in (outputs, targets) if not isinstance(images, Tensor)]
    uneven = any(len({tuple(image.shape) for image in images}) > 1 for images in whole)
    # crops of one size for all: FD_CROP, or the smallest side where an image is smaller
    size = min([FD_CROP, *(min(image.shape[-2:]) for images in whole for image in images)]) if uneven else 0
    sets = []
    for images in (outputs, targets):
        if size and not isinstance(images, Tensor):
            images = [c for image in images for c in crops(image, size)]
        sets.append(inception_features(network, images))
    if min(len(s) for s in sets) < 2:
        raise GanforgeError(f"FD and KID need at least 2 images (or {FD_CROP}-pixel crops) a side; there are "
                            f"{len(sets[0])} and {len(sets[1])}")
    scores: dict[str, float] = {"fd_items": float(len(sets[0]))}
    for metric in (FrechetDistance(), KernelDistance(seed=seed)):
        metric.update(sets[1], real=True)
        metric.update(sets[0], real=False)
        scores.update(metric.compute())
    return scores


class PairMetric(Metric):
    """A score of image-to-image outputs against their targets, in the registry so that `--metrics`,
    `--eval-metrics` and `--best-metric` know it: outputs go in as generated batches, targets as real ones, both
    8-bit images (N, C, H, W) of one size. `ganforge eval` and evaluation while training (`kinds.pair_eval`) measure
    image-to-image runs with these; runs from noise have no pairs, so the metrics do not apply to them."""

    needs = "pairs"

    @classmethod
    def unavailable(cls, context: Any) -> str | None:
        return (f"metric {cls.name} measures image-to-image runs (--task): ganforge eval RUN --real FOLDER, or "
                f"--eval-every with --eval-real while training")

    def compute(self) -> dict[str, float]:
        real, fake = self._gathered(need_real=self.name != "niqe")
        return self.score(fake, real)

    def score(self, outputs: Tensor, targets: Tensor) -> dict[str, float]:
        raise NotImplementedError


@register_metric
class PairL1(PairMetric):
    name = "l1"
    description = "mean |output − target| on [-1, 1] images (pix2pix's loss)"
    values: ClassVar[dict[str, str | None]] = {"l1": "min"}

    def score(self, outputs: Tensor, targets: Tensor) -> dict[str, float]:
        return {"l1": l1(outputs, targets)}


@register_metric
class PairPSNR(PairMetric):
    name = "psnr"
    description = "PSNR on BT.601 Y (16–235), border cropped by the SR scale; bicubic's beside for SR runs"
    values: ClassVar[dict[str, str | None]] = {"psnr_y": "max", "bicubic_psnr_y": None}

    def score(self, outputs: Tensor, targets: Tensor) -> dict[str, float]:
        return {"psnr_y": psnr_y(outputs, targets)}


@register_metric
class PairSSIM(PairMetric):
    name = "ssim"
    description = "SSIM on BT.601 Y (11×11 Gaussian window, σ 1.5)"
    values: ClassVar[dict[str, str | None]] = {"ssim_y": "max", "bicubic_ssim_y": None}

    def score(self, outputs: Tensor, targets: Tensor) -> dict[str, float]:
        return {"ssim_y": ssim_y(outputs, targets)}


@register_metric
class PairNIQE(PairMetric):
    name = "niqe"
    description = "NIQE, no reference (lower: more natural); SR runs: bicubic's and the originals' beside"
    values: ClassVar[dict[str, str | None]] = {"niqe": "min", "bicubic_niqe": None, "high_niqe": None}

    def score(self, outputs: Tensor, targets: Tensor) -> dict[str, float]:
        from ganforge.metrics.niqe import niqe

        return {"niqe": sum(niqe(image) for image in outputs) / len(outputs)}


@register_metric
class CycleError(PairMetric):
    name = "cycle"
    description = "CycleGAN's cycle-consistency error |F(G(a)) − a| on [-1, 1] images"
    values: ClassVar[dict[str, str | None]] = {"cycle": "min"}

    def score(self, outputs: Tensor, targets: Tensor) -> dict[str, float]:
        return {"cycle": l1(outputs, targets)}  # outputs: F(G(a)); targets: a
