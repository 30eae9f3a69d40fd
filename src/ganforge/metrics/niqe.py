"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik 2013): how far an image's local
statistics are from those of pristine photos, with no reference image (lower is more natural).

As the authors' MATLAB release computes it, which super-resolution papers quote:
- the image's Y (BT.601, 16–235, rounded) is normalised by its local mean and deviation under a 7×7 Gaussian window
  of σ 7/6 (edges replicated): its MSCN coefficients, (Y − μ) / (σ + 1);
- in each 96×96 block (no overlap; the image is cropped to whole blocks), 18 features: the shape and mean scale of
  an asymmetric generalised Gaussian fitted to the coefficients, and the shape, mean and left and right scales of one
  fitted to their products with the neighbour right, below and on the two diagonals (shifted around the block);
- the same at half size, after MATLAB's antialiased bicubic `imresize` (blocks of 48), so 36 features a block;
- a Gaussian fitted to the blocks' features; NIQE is the distance sqrt((μp − μ)ᵀ ((Σp + Σ)/2)⁺ (μp − μ)) to the
  pristine model (μp, Σp).

The pristine model ships as `features/niqe_pristine.safetensors`: the parameters of the MATLAB release
(`modelparameters.mat`, fitted by its authors on 125 pristine photos), as converted into BasicSR 1.4.2
(`basicsr/metrics/niqe_pris_params.npz`, Apache-2.0). This implementation gives BasicSR's figure, and MATLAB's, on
Set14's baboon (5.7296; checked by hand, the image is not shipped); the tests compare it with BasicSR's on
scikit-learn's two photos.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
from scipy import ndimage, special
from torch import Tensor

from ganforge.errors import GanforgeError
from ganforge.metrics.pairs import luma

PRISTINE = Path(__file__).resolve().parent.parent / "features" / "niqe_pristine.safetensors"
BLOCK = 96  # pixels: the release's block, the size its pristine model was fitted at
WINDOW, WINDOW_SIGMA = 7, 7 / 6
SHAPES = np.arange(0.2, 10.0005, 0.001)  # the grid the generalised Gaussian's shape is searched on, as the release
NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))  # right, below, the two diagonals


@cache
def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """(mean (36,), covariance (36, 36)) of the pristine photos' block features."""
    from safetensors.numpy import load_file

    model = load_file(str(PRISTINE))
    return model["mean"], model["covariance"]


@cache
def _shape_ratios() -> np.ndarray:
    """Γ(2/α)² / (Γ(1/α) Γ(3/α)) on the shape grid: the moment ratio each shape α gives."""
    return special.gamma(2 / SHAPES) ** 2 / (special.gamma(1 / SHAPES) * special.gamma(3 / SHAPES))


def gaussian_window() -> np.ndarray:
    """MATLAB's fspecial('gaussian', 7, 7/6)."""
    offsets = np.arange(WINDOW) - WINDOW // 2
    window = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * WINDOW_SIGMA**2))
    return window / window.sum()


def fit_aggd(values: np.ndarray) -> tuple[float, float, float]:
    """(shape α, left scale, right scale) of an asymmetric generalised Gaussian, by moment matching on the grid."""
    values = values.ravel()
    left = math.sqrt(np.mean(values[values < 0] ** 2)) if (values < 0).any() else 0.0
    right = math.sqrt(np.mean(values[values > 0] ** 2)) if (values > 0).any() else 0.0
    if left == 0.0 or right == 0.0:  # a flat or one-sided block has no shape: its features are left out (NaN)
        return math.nan, math.nan, math.nan
    skew = left / right
    ratio = np.mean(np.abs(values)) ** 2 / np.mean(values**2)
    normalised = ratio * (skew**3 + 1) * (skew + 1) / (skew**2 + 1) ** 2
    shape = float(SHAPES[np.argmin((_shape_ratios() - normalised) ** 2)])
    spread = math.sqrt(math.gamma(1 / shape) / math.gamma(3 / shape))
    return shape, left * spread, right * spread


def block_features(block: np.ndarray) -> list[float]:
    """The 18 features of one block of MSCN coefficients."""
    shape, left, right = fit_aggd(block)
    features = [shape, (left + right) / 2]
    for shift in NEIGHBOURS:
        shape, left, right = fit_aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (right - left) * math.gamma(2 / shape) / math.gamma(1 / shape) if math.isfinite(shape) else math.nan
        features += [shape, mean, left, right]
    return features


def mscn(image: np.ndarray) -> np.ndarray:
    """Mean-subtracted, contrast-normalised coefficients of a float image in [0, 255]."""
    window = gaussian_window()
    mean = ndimage.correlate(image, window, mode="nearest")
    deviation = np.sqrt(np.abs(ndimage.correlate(image**2, window, mode="nearest") - mean**2))
    return (image - mean) / (deviation + 1)


def _cubic(x: np.ndarray) -> np.ndarray:
    """MATLAB's bicubic kernel (a = −0.5)."""
    x = np.abs(x)
    return ((1.5 * x**3 - 2.5 * x**2 + 1) * (x <= 1)
            + (-0.5 * x**3 + 2.5 * x**2 - 4 * x + 2) * ((x > 1) & (x <= 2)))


def _resize_matrix(length: int, scale: float) -> np.ndarray:
    """The (out, in) matrix of MATLAB's `imresize(..., scale, 'bicubic')` along one axis, antialiased when
    shrinking, with MATLAB's symmetric edges folded in."""
    out = math.ceil(length * scale)
    stretch = min(scale, 1.0)  # shrinking widens the kernel by 1/scale: the antialiasing
    width = 4 / stretch
    centres = (np.arange(1, out + 1) / scale + 0.5 * (1 - 1 / scale))  # 1-based, as MATLAB's
    first = np.floor(centres - width / 2)
    taps = first[:, None] + np.arange(math.ceil(width) + 2)[None, :]
    weights = stretch * _cubic(stretch * (centres[:, None] - taps))
    weights /= weights.sum(1, keepdims=True)
    mirrored = np.concatenate([np.arange(length), np.arange(length)[::-1]])
    sources = mirrored[np.mod(taps.astype(int) - 1, 2 * length)]
    matrix = np.zeros((out, length))
    np.add.at(matrix, (np.repeat(np.arange(out), taps.shape[1]), sources.ravel()), weights.ravel())
    return matrix


def matlab_resize(image: np.ndarray, scale: float) -> np.ndarray:
    """A 2-D float image resized by `scale` as MATLAB's `imresize` (bicubic, antialiased)."""
    rows, columns = image.shape
    dtype = image.dtype
    return (_resize_matrix(rows, scale).astype(dtype) @ image @ _resize_matrix(columns, scale).T.astype(dtype))


def fits(height: int, width: int, crop: int = 0) -> bool:
    """Whether an image of this size holds the two blocks NIQE needs after the border crop."""
    return ((height - 2 * crop) // BLOCK) * ((width - 2 * crop) // BLOCK) >= 2


def niqe(image: Tensor, crop: int = 0, name: str = "the image") -> float:
    """NIQE of one 8-bit image (C, H, W) with values in [0, 255] (RGB or gray), `crop` pixels cut from each border
    first (the super-resolution protocol cuts the scale). Lower is more natural. It needs 96×96 pixels at least and
    two blocks (`name` is said in the error)."""
    gray = image.shape[0] == 1  # a gray image is its own luma, as the release reads one
    # single precision from here, as the release's figures come out (BasicSR matches MATLAB on baboon in float32;
    # in float64 it gives 5.72996 for 5.72957)
    y = (image[0].double() if gray else luma(image[None].float())[0, 0]).round().float().cpu().numpy()
    if crop:
        y = y[crop:-crop, crop:-crop]
    rows, columns = y.shape[0] // BLOCK, y.shape[1] // BLOCK
    if not fits(*y.shape):
        raise GanforgeError(f"NIQE of {name}: it needs two {BLOCK}-pixel blocks, and it is {y.shape[1]}×{y.shape[0]} "
                            f"pixels (after a {crop}-pixel border crop)")
    y = y[: rows * BLOCK, : columns * BLOCK]
    per_scale = []
    for size in (BLOCK, BLOCK // 2):
        coefficients = mscn(y)
        per_scale.append([block_features(coefficients[r * size:(r + 1) * size, c * size:(c + 1) * size])
                          for c in range(columns) for r in range(rows)])
        y = matlab_resize(y / 255.0, 0.5) * 255.0
    features = np.concatenate([np.array(scale) for scale in per_scale], axis=1)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise GanforgeError(f"NIQE of {name}: fewer than two of its blocks have texture (flat image)")
    mean, covariance = np.nanmean(features, axis=0), np.cov(complete, rowvar=False)
    pristine_mean, pristine_covariance = pristine_model()
    gap = pristine_mean - mean
    return float(np.sqrt(gap @ np.linalg.pinv((pristine_covariance + covariance) / 2) @ gap))
