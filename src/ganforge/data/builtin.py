"""Built-in datasets that need no download: scikit-learn's digits and a procedural shapes set."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ganforge.data.base import IMAGE, Codec, Dataset

SHAPES_SIZE = 10_000
SHAPE_COLOURS = [(220, 50, 47), (38, 139, 210), (133, 153, 0), (181, 137, 0), (108, 113, 196), (42, 161, 152)]
SHAPE_COLOUR_NAMES = ("red", "blue", "green", "ochre", "violet", "teal")
SHAPE_KINDS = ("circle", "square", "triangle")


def digits(size: int | None = None, channels: int | None = None) -> Dataset:
    """scikit-learn's 1,797 8×8 handwritten digits (values 0–16), resized to `size` (default 32)."""
    from sklearn.datasets import load_digits  # imported lazily: scikit-learn is slow to import

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    size = size or 32
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp_(0, 1)
    if channels == 3:
        images = images.expand(-1, 3, -1, -1)
    stored = (images * 255.0 + 0.5).to(torch.uint8).contiguous()
    return Dataset("digits", Codec(IMAGE, tuple(stored.shape[1:])), stored, {},
                   labels=torch.from_numpy(bunch.target).long(), class_names=[str(d) for d in range(10)])


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, colour: tuple) -> None:
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r * 0.95, cy + r * 0.8), (cx + r * 0.95, cy + r * 0.8)], fill=colour)


def shapes(size: int | None = None, channels: int | None = None, n: int = SHAPES_SIZE, seed: int = 7) -> Dataset:
    """Procedural RGB images: one circle, square or triangle in one of six colours on white, varied in size and
    position. Drawn 4× larger and downsampled for smooth edges; identical for the same seed on every machine.
    Labelled by shape × colour: 18 classes such as "red circle" (index shape·6 + colour)."""
    size = size or 32
    rng = np.random.default_rng(seed)
    scale = 4
    canvas = size * scale
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = np.empty((n, 2), dtype=np.int64)
    for i in range(n):
        kind = int(rng.integers(len(SHAPE_KINDS)))
        colour = int(rng.integers(len(SHAPE_COLOURS)))
        radius = rng.uniform(0.15, 0.35) * canvas
        cx, cy = rng.uniform(radius, canvas - radius, size=2)
        image = Image.new("RGB", (canvas, canvas), (255, 255, 255))
        _draw_shape(ImageDraw.Draw(image), SHAPE_KINDS[kind], cx, cy, radius, SHAPE_COLOURS[colour])
        images[i] = np.asarray(image.resize((size, size), Image.Resampling.BOX))
        labels[i] = (kind, colour)
    stored = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    if channels == 1:
        gray = (stored.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        stored = (gray + 0.5).to(torch.uint8)
    names = [f"{colour} {kind}" for kind in SHAPE_KINDS for colour in SHAPE_COLOUR_NAMES]
    classes = torch.from_numpy(labels[:, 0] * len(SHAPE_COLOURS) + labels[:, 1])
    return Dataset("shapes", Codec(IMAGE, tuple(stored.shape[1:])), stored, {"labelled_by": "shape × colour"},
                   labels=classes, class_names=names)


STACKED_SIZE = 50_000


def stacked_digits(size: int | None = None, channels: int | None = None, n: int = STACKED_SIZE,
                   seed: int = 11) -> Dataset:
    """Three random digits stacked in the three channels: 1,000 equally likely modes (the Stacked-MNIST
    construction of Metz et al. 2017, on scikit-learn's digits). The mode of a sample is d₀·100 + d₁·10 + d₂."""
    from ganforge.errors import GanforgeError

    if channels not in (None, 3):
        raise GanforgeError("dataset stacked-digits has 3 channels (one digit each); --channels must be 3")
    base = digits(size)
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(base), (n, 3), generator=generator)
    stored = base.samples[:, 0][picks]  # (n, 3, size, size)
    modes = (base.labels[picks] * torch.tensor([100, 10, 1])).sum(1)
    return Dataset("stacked-digits", Codec(IMAGE, tuple(stored.shape[1:])), stored.contiguous(),
                   {"labelled_by": "the three digits (class 385: 3 in red, 8 in green, 5 in blue)"},
                   labels=modes, class_names=[f"{m:03d}" for m in range(1000)])
