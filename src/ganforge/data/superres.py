"""Super-resolution data: high-resolution crops of the user's photos, and their low-resolution inputs made on the fly.

Each training step cuts `batch` crops of `patch` × `patch` pixels from the photos (a photo, a place, a flip and a
quarter turn per crop), then degrades each crop into its input, `scale` times smaller:
- `bicubic`: Pillow's bicubic downscale with antialiasing (MATLAB `imresize`'s kernel, a = −0.5), the classic
  SRGAN / SRResNet protocol;
- `real`: Real-ESRGAN's first-order chain — Gaussian blur (σ 0.2–3), bicubic downscale, Gaussian noise (σ 1–30 of
  255), JPEG (quality 30–95).

Everything a batch draws comes from NumPy generators seeded by (seed, step) and (seed, step, crop), so a batch is a
pure function of its step: a resumed run sees the batches an uninterrupted one would. The test images of the
protocol (`evaluation_pairs`) are whole photos cropped to a multiple of the scale ("mod-crop"), each with its
bicubic input.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter
from torch import Tensor

from ganforge.data.images import IMAGE_SUFFIXES, flatten_to, list_images, to_tensor
from ganforge.data.pairs import UNREADABLE
from ganforge.errors import GanforgeError

SCALES = (2, 3, 4, 8)
DEGRADATIONS = ("bicubic", "real")
BLUR_SIGMA = (0.2, 3.0)  # Real-ESRGAN's first-order Gaussian blur
NOISE_SIGMA = (1.0, 30.0)  # on 0–255
JPEG_QUALITY = (30, 95)


def downscaled(image: Image.Image, scale: int) -> Image.Image:
    """`image` made `scale` times smaller by Pillow's antialiased bicubic (its size must be a multiple of `scale`)."""
    return image.resize((image.width // scale, image.height // scale), Image.Resampling.BICUBIC)


def upscaled(image: Image.Image, scale: int) -> Image.Image:
    """`image` made `scale` times larger by Pillow's bicubic: the baseline every super-resolution table starts from."""
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.BICUBIC)


def degrade(crop: Tensor, scale: int, degradation: str, rng: np.random.Generator) -> Tensor:
    """The low-resolution input of one uint8 RGB crop (3, H, W): (3, H / scale, W / scale) uint8."""
    image = Image.fromarray(crop.permute(1, 2, 0).numpy())
    if degradation == "bicubic":
        return to_tensor(downscaled(image, scale))
    if degradation != "real":
        raise GanforgeError(f"option --degradation {degradation!r}: choose one of {', '.join(DEGRADATIONS)}")
    sigma, noise, quality = rng.uniform(*BLUR_SIGMA), rng.uniform(*NOISE_SIGMA), int(rng.integers(*JPEG_QUALITY))
    small = np.asarray(downscaled(image.filter(ImageFilter.GaussianBlur(sigma)), scale), dtype=np.float64)
    noisy = np.clip(small + rng.normal(0.0, noise, size=small.shape), 0, 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as compressed:
        return to_tensor(compressed.convert("RGB"))


@dataclass
class SRPhotos:
    """The training photos, uint8 RGB (3, H, W) each at its own size, and what to make of them."""

    photos: list[Tensor]
    names: list[str]
    patch: int
    scale: int
    degradation: str = "bicubic"
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.photos)

    def crops(self, step: int, count: int, seed: int) -> Tensor:
        """`count` high-resolution crops (count, 3, patch, patch) uint8 for `step`, each flipped and turned by
        chance."""
        rng = np.random.default_rng([seed, step])
        out = []
        for _ in range(count):
            photo = self.photos[int(rng.integers(len(self.photos)))]
            top = int(rng.integers(photo.shape[1] - self.patch + 1))
            left = int(rng.integers(photo.shape[2] - self.patch + 1))
            crop = photo[:, top : top + self.patch, left : left + self.patch]
            if rng.random() < 0.5:
                crop = crop.flip(-1)
            out.append(torch.rot90(crop, int(rng.integers(4)), (1, 2)).contiguous())
        return torch.stack(out)

    def batch(self, step: int, count: int, seed: int) -> tuple[Tensor, Tensor]:
        """(low-resolution inputs, high-resolution targets) of `step`, both uint8."""
        high = self.crops(step, count, seed)
        low = torch.stack([degrade(crop, self.scale, self.degradation, np.random.default_rng([seed, step, i]))
                           for i, crop in enumerate(high)])
        return low, high


def read_sr_photos(folder: Path, patch: int, scale: int, degradation: str = "bicubic") -> SRPhotos:
    """The photos of `folder` (RGB, at their own sizes) for super-resolution with high-resolution crops of `patch`."""
    folder = Path(folder)
    if scale not in SCALES:
        raise GanforgeError(f"option --scale {scale}: choose one of {', '.join(map(str, SCALES))}")
    if degradation not in DEGRADATIONS:
        raise GanforgeError(f"option --degradation {degradation!r}: choose one of {', '.join(DEGRADATIONS)}")
    if patch % scale:
        raise GanforgeError(f"option --image-size {patch}: the high-resolution crop must be a multiple of --scale "
                            f"{scale}")
    if not folder.is_dir():
        raise GanforgeError(f"--data {folder}: a folder of photos was expected")
    files = list_images(folder)
    if not files:
        raise GanforgeError(f"folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    photos, names, skipped = [], [], 0
    for path in files:
        try:
            with Image.open(path) as image:
                image.seek(0)
                image.load()
                picture = flatten_to(image, 3)
        except UNREADABLE:
            skipped += 1
            continue
        if min(picture.size) < patch:
            raise GanforgeError(f"image {path} is {picture.width}×{picture.height}, smaller than the {patch}-pixel "
                                "crops super-resolution trains on; remove it or lower --image-size")
        photos.append(to_tensor(picture))
        names.append(path.relative_to(folder).as_posix())
    if not photos:
        raise GanforgeError(f"folder {folder} holds no readable images")
    pixels = sum(p.shape[1] * p.shape[2] for p in photos)
    return SRPhotos(photos, names, patch, scale, degradation,
                    {"source": str(folder), "photos": len(photos), "skipped": skipped, "pixels": pixels,
                     "scale": scale, "degradation": degradation, "a_channels": 3, "b_channels": 3})


def evaluation_pairs(folder: Path, scale: int) -> list[tuple[str, Tensor, Tensor]]:
    """(name, bicubic low-resolution input, mod-cropped high-resolution image) for each photo of a test folder (Set5,
    Set14, or held-out photos), uint8 RGB."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GanforgeError(f"--real {folder}: a folder of high-resolution images was expected")
    pairs = []
    for path in list_images(folder):
        try:
            with Image.open(path) as image:
                image.load()
                picture = flatten_to(image, 3)
        except UNREADABLE as error:
            raise GanforgeError(f"image {path} cannot be read ({error})") from error
        width, height = picture.width // scale * scale, picture.height // scale * scale
        if min(width, height) < 2 * scale:
            raise GanforgeError(f"image {path} is {picture.width}×{picture.height}, too small for ×{scale}")
        high = picture.crop((0, 0, width, height))
        pairs.append((path.relative_to(folder).as_posix(), to_tensor(downscaled(high, scale)), to_tensor(high)))
    if not pairs:
        raise GanforgeError(f"folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return pairs
