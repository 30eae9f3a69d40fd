"""Pairs of images for image-to-image training: an input A and its target B, aligned pixel for pixel.

Three sources, as pix2pix's users bring them:
- one folder of A|B images side by side (pix2pix's own format: the left half is A, the right half B);
- a folder holding `A/` and `B/`, whose files pair by their path inside each (the suffix may differ);
- a folder of the user's own photos and a named task that makes the A of each photo (`PAIR_TASKS`): `edges2photo`
  (OpenCV's Canny edges, drawn dark on white as pix2pix's edges2shoes), `gray2color`, `inpaint` (random
  rectangles blanked) and `denoise` (Gaussian noise). Their randomness is seeded by (seed, photo index), so a
  pair is the same on every run and machine.

Both images of a pair are resized and cropped by the same square fit, so they stay aligned. Files Pillow cannot
read are skipped with one warning, as for image folders; a pair that cannot be a pair (a missing partner, two sizes,
an image not twice as wide as high, an empty folder) ends with one line naming the file.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from ganforge.data.images import GRAYSCALE_MODES, IMAGE_SUFFIXES, fit_square, flatten_to, list_images, to_tensor
from ganforge.errors import GanforgeError

log = logging.getLogger("ganforge")

PAIR_TASKS = ("paired", "edges2photo", "gray2color", "inpaint", "denoise")
IMAGE_TASKS = (*PAIR_TASKS, "unpaired", "sr")  # every --task: the pairs', CycleGAN's and super-resolution's
NOISE_SIGMA = 25 / 255  # denoise: the σ of the classic denoising benchmarks (BSD68 at σ = 25)
UNREADABLE = (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError)


@dataclass
class ImagePairs:
    """Aligned pairs as uint8 tensors: inputs `a` (N, Ca, S, S) and targets `b` (N, Cb, S, S), with the file each
    pair came from (`names`, relative to the folder)."""

    a: Tensor
    b: Tensor
    names: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)


def read_pairs(folder: Path, size: int, task: str = "paired", seed: int = 0) -> ImagePairs:
    """The pairs of `folder` for `task` (one of `PAIR_TASKS`), each image fitted to size × size."""
    folder = Path(folder)
    if task not in PAIR_TASKS:
        raise GanforgeError(f"option --task {task!r} is not an image-to-image task; choose one of "
                            f"{', '.join(PAIR_TASKS)}")
    if not folder.is_dir():
        raise GanforgeError(f"--data {folder}: a folder of images was expected")
    if task != "paired":
        return made_pairs(folder, size, task, seed)
    sides = [folder / name for name in ("A", "B")]
    if all(side.is_dir() for side in sides):
        return _two_folders(folder, size)
    if any(side.is_dir() for side in sides):
        present, missing = (sides[0], sides[1]) if sides[0].is_dir() else (sides[1], sides[0])
        raise GanforgeError(f"{folder} has {present.name}/ but no {missing.name}/; pairs are A/ and B/ folders "
                            "with matching names, or A|B images side by side")
    return _side_by_side(folder, size)


def _side_by_side(folder: Path, size: int) -> ImagePairs:
    files, a, b, names, skipped = _listed(folder), [], [], [], []
    for path in files:
        image = _opened(path, skipped)
        if image is None:
            continue
        width, height = image.size
        if width < 2 * height - 1 or width > 2 * height + 1:
            raise GanforgeError(f"image {path} is {width}×{height}, not two images side by side (twice as wide as "
                                "high); pairs are A|B images (pix2pix's format) or A/ and B/ folders")
        half = width // 2
        channels = _channels(image)
        a.append(_fitted(image.crop((0, 0, half, height)), size, channels))
        b.append(_fitted(image.crop((half, 0, 2 * half, height)), size, channels))
        names.append(path.relative_to(folder).as_posix())
    return _finished(folder, a, b, names, skipped, {"source": str(folder), "format": "A|B"})


def _two_folders(folder: Path, size: int) -> ImagePairs:
    first, second = folder / "A", folder / "B"
    inputs, targets = _by_stem(first), _by_stem(second)
    for side, found in ((first, inputs), (second, targets)):
        if not found:
            raise GanforgeError(f"folder {side} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    for own, other, mine in ((inputs, targets, first), (targets, inputs, second)):
        lonely = sorted(set(own) - set(other))
        if lonely:
            partner = second if mine == first else first
            raise GanforgeError(f"image {own[lonely[0]]} has no partner in {partner} (expected {lonely[0]}.* there)"
                                + (f"; {len(lonely) - 1} more lack one" if len(lonely) > 1 else ""))
    a, b, names, skipped = [], [], [], []
    for key in sorted(inputs):
        left, right = _opened(inputs[key], skipped), _opened(targets[key], skipped)
        if left is None or right is None:
            continue
        if left.size != right.size:
            raise GanforgeError(f"pair {key}: {inputs[key]} is {left.size[0]}×{left.size[1]} but {targets[key]} is "
                                f"{right.size[0]}×{right.size[1]}; the two images of a pair must have one size")
        a.append(_fitted(left, size, _channels(left)))
        b.append(_fitted(right, size, _channels(right)))
        names.append(key)
    return _finished(folder, a, b, names, skipped, {"source": str(folder), "format": "A/ and B/"})


@dataclass
class UnpairedImages:
    """Two domains for unpaired translation (CycleGAN): uint8 images `a` (N, Ca, S, S) and `b` (M, Cb, S, S)."""

    a: Tensor
    b: Tensor
    info: dict[str, Any] = field(default_factory=dict)


def read_unpaired(folder_a: Path, folder_b: Path | None, size: int) -> UnpairedImages:
    """The images of two folders, each fitted to size × size; a side is gray when all its images are."""
    if folder_b is None:
        raise GanforgeError("option --task unpaired needs --data-b FOLDER: the images of the other domain")
    sides = []
    for folder, flag in ((Path(folder_a), "--data"), (Path(folder_b), "--data-b")):
        if not folder.is_dir():
            raise GanforgeError(f"{flag} {folder}: a folder of images was expected")
        images, skipped = [], []
        for path in _listed(folder):
            image = _opened(path, skipped)
            if image is not None:
                images.append(image)
        if not images:
            raise GanforgeError(f"folder {folder} holds no readable images")
        if skipped:
            log.warning("skipped %d unreadable file%s in %s", len(skipped), "s" if len(skipped) > 1 else "", folder)
        channels = 1 if all(_channels(image) == 1 for image in images) else 3
        sides.append(torch.stack([_fitted(image, size, channels) for image in images]))
    return UnpairedImages(sides[0], sides[1], {"source": str(folder_a), "source_b": str(folder_b),
                                               "images": len(sides[0]), "images_b": len(sides[1]),
                                               "a_channels": sides[0].shape[1], "b_channels": sides[1].shape[1]})


def made_pairs(folder: Path, size: int, task: str, seed: int = 0) -> ImagePairs:
    """Pairs made from a folder of photos: each photo (RGB) is B, and `task` makes its A."""
    files, a, b, names, skipped = _listed(folder), [], [], [], []
    for index, path in enumerate(files):
        image = _opened(path, skipped)
        if image is None:
            continue
        photo = _fitted(image, size, 3)
        a.append(degraded(photo, task, np.random.default_rng([seed, index])))
        b.append(photo)
        names.append(path.relative_to(folder).as_posix())
    return _finished(folder, a, b, names, skipped, {"source": str(folder), "task": task, "seed": seed})


def degraded(photo: Tensor, task: str, rng: np.random.Generator) -> Tensor:
    """The input `task` makes of one uint8 RGB photo (3, S, S): edges or gray (1 channel), or a damaged copy."""
    gray = _luma(photo)
    if task == "gray2color":
        return gray
    if task == "edges2photo":
        try:
            import cv2
        except ImportError as error:
            raise GanforgeError("option --task edges2photo draws edges with OpenCV, which is not installed; "
                                "pip install 'ganforge[image2image]'") from error

        plane = gray[0].numpy()
        middle = float(np.median(plane))  # thresholds around the median brightness, the usual automatic Canny
        edges = cv2.Canny(plane, int(max(0.0, 0.66 * middle)), int(min(255.0, 1.33 * middle)) or 1)
        return torch.from_numpy(255 - edges)[None]
    if task == "inpaint":
        damaged, side = photo.clone(), photo.shape[-1]
        for _ in range(int(rng.integers(1, 4))):  # 1 to 3 holes, each 10% to 40% of the side
            h, w = (int(rng.integers(max(1, side // 10), max(2, side * 2 // 5) + 1)) for _ in range(2))
            top, left = int(rng.integers(0, side - h + 1)), int(rng.integers(0, side - w + 1))
            damaged[:, top : top + h, left : left + w] = 127  # mid-gray: 0 in model space
        return damaged
    if task == "denoise":
        noise = rng.normal(0.0, NOISE_SIGMA * 255, size=tuple(photo.shape))
        return torch.from_numpy(np.clip(photo.numpy() + noise, 0, 255).round().astype(np.uint8))
    raise GanforgeError(f"option --task {task!r} makes no pairs; choose one of {', '.join(PAIR_TASKS[1:])}")


def _luma(photo: Tensor) -> Tensor:
    """ITU-R 601 luma (Pillow's 'L'), (1, S, S) uint8."""
    weights = torch.tensor([299, 587, 114], dtype=torch.int32)[:, None, None]
    return ((photo.to(torch.int32) * weights).sum(0, keepdim=True) + 500).div(1000, rounding_mode="floor") \
        .clamp(0, 255).to(torch.uint8)


def _listed(folder: Path) -> list[Path]:
    files = list_images(folder)
    if not files:
        raise GanforgeError(f"folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _by_stem(side: Path) -> dict[str, Path]:
    """Images below `side` by their path inside it without the suffix; two files of one stem are refused."""
    found: dict[str, Path] = {}
    for path in list_images(side):
        key = path.relative_to(side).with_suffix("").as_posix()
        if key in found:
            raise GanforgeError(f"{found[key]} and {path} would pair with the same partner; keep one of them")
        found[key] = path
    return found


def _opened(path: Path, skipped: list[Path]) -> Image.Image | None:
    """A decoded image (first frame), or None, noted in `skipped`, when Pillow cannot read it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's decompression-bomb and EXIF chatter
            with Image.open(path) as image:
                image.seek(0)
                image.load()
                return image.copy()
    except UNREADABLE:
        skipped.append(path)
        return None


def _channels(image: Image.Image) -> int:
    return 1 if image.mode in GRAYSCALE_MODES else 3


def _fitted(image: Image.Image, size: int, channels: int) -> Tensor:
    return to_tensor(fit_square(flatten_to(image, channels), size))


def _finished(folder: Path, a: list[Tensor], b: list[Tensor], names: list[str], skipped: list[Path],
              info: dict[str, Any]) -> ImagePairs:
    if skipped:
        shown = ", ".join(p.name for p in skipped[:3]) + (", …" if len(skipped) > 3 else "")
        log.warning("skipped %d unreadable file%s in %s: %s", len(skipped), "s" if len(skipped) > 1 else "", folder,
                    shown)
    if not names:
        raise GanforgeError(f"folder {folder} holds no readable images")
    for side, images in (("A", a), ("B", b)):
        if len({t.shape[0] for t in images}) > 1:  # gray and colour mixed on one side: colour for all
            images[:] = [t.expand(3, -1, -1).clone() if t.shape[0] == 1 else t for t in images]
        info[f"{side.lower()}_channels"] = images[0].shape[0]
    return ImagePairs(torch.stack(a), torch.stack(b), names, {**info, "pairs": len(names), "skipped": len(skipped)})
