"""Shared fixtures: small image folders of every format, written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _rgb(seed: int, size: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(size, size + 6, 3), dtype=np.uint8)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A nested folder with one image of each supported format and mode, plus a truncated file and a text file."""
    root = tmp_path / "photos"
    (root / "nested" / "deeper").mkdir(parents=True)
    Image.fromarray(_rgb(0)).save(root / "rgb.png")
    Image.fromarray(_rgb(1)).save(root / "photo.jpg", quality=90)
    Image.fromarray(_rgb(2)).save(root / "nested" / "bitmap.bmp")
    Image.fromarray(_rgb(3)).save(root / "nested" / "web.webp")
    Image.fromarray(_rgb(4)).save(root / "nested" / "deeper" / "scan.tiff")
    Image.fromarray(_rgb(5)[..., 0]).save(root / "gray.pgm")
    Image.fromarray(_rgb(6)).save(root / "colour.ppm")
    rgba = np.dstack([_rgb(7), np.full((20, 26), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(root / "alpha.png")
    Image.fromarray(_rgb(8)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(root / "palette.png")
    sixteen = (np.linspace(0, 65535, 20 * 26).reshape(20, 26)).astype(np.uint16)
    Image.fromarray(sixteen).save(root / "deep.png")
    frames = [Image.fromarray(_rgb(9 + i)).convert("P") for i in range(3)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    full = root / "rgb.png"
    (root / "truncated.png").write_bytes(full.read_bytes()[: len(full.read_bytes()) // 2])
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def png_folder(tmp_path: Path) -> Path:
    """Forty small RGB PNGs of coloured squares: enough to train a tiny DCGAN for a few steps."""
    root = tmp_path / "squares"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        image = np.full((24, 24, 3), 255, np.uint8)
        top, left = rng.integers(0, 12, size=2)
        image[top : top + 10, left : left + 10] = rng.integers(0, 256, size=3)
        Image.fromarray(image).save(root / f"img_{i:03d}.png")
    return root
