"""Write generated samples in the user's form: image grids, folders of PNGs, arrays, CSV, scatter plots."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from ganforge.data.base import IMAGE, SEQUENCE
from ganforge.errors import GanforgeError

IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp")


def image_grid(images: Tensor, columns: int | None = None, padding: int = 2) -> Image.Image:
    """Images in [0, 1] (N, C, H, W) → one Pillow image tiled in a near-square grid on a white background."""
    n, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = torch.ones(channels, rows * (height + padding) + padding, columns * (width + padding) + padding)
    for i in range(n):
        r, c = divmod(i, columns)
        top, left = padding + r * (height + padding), padding + c * (width + padding)
        grid[:, top : top + height, left : left + width] = images[i]
    array = (grid.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if channels == 1 else array, "L" if channels == 1 else "RGB")


def scatter_plot(points: Tensor, reference: Tensor | None = None, size: int = 512) -> Image.Image:
    """2-D points (the first two columns) drawn in blue over `reference` points in grey, on shared axes."""
    both = points[:, :2] if reference is None else torch.cat([points[:, :2], reference[:, :2]])
    low, high = both.min(0).values, both.max(0).values
    centre, half = (low + high) / 2, ((high - low).max() / 2 * 1.1).clamp_min(1e-6)
    margin = 16

    def pixels(p: Tensor) -> np.ndarray:
        unit = (p[:, :2] - centre) / half  # [-1, 1]
        x = margin + (unit[:, 0] + 1) / 2 * (size - 2 * margin)
        y = size - margin - (unit[:, 1] + 1) / 2 * (size - 2 * margin)
        return torch.stack([x, y], 1).numpy()

    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle([margin, margin, size - margin, size - margin], outline=(200, 200, 200))
    if reference is not None:
        for x, y in pixels(reference):
            draw.point((x, y), fill=(170, 170, 170))
    for x, y in pixels(points):
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(31, 119, 180))
    return image


LINE_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
                (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def sequence_plot(sequences: Tensor, reference: Tensor | None = None, panels: int = 16,
                  panel: tuple[int, int] = (200, 110)) -> Image.Image:
    """Small multiples of (N, T, F) sequences, one panel per sample and one colour per feature, on the value range
    of each feature; with `reference`, a first row of real sequences on grey."""
    shown = sequences[:panels]
    rows_of_real = reference[: min(4, len(reference))] if reference is not None else sequences[:0]
    both = torch.cat([shown, rows_of_real]) if len(rows_of_real) else shown
    ended = both.isnan()  # the steps after a shorter series' end
    low = both.masked_fill(ended, float("inf")).amin((0, 1))
    high = both.masked_fill(ended, float("-inf")).amax((0, 1))
    span = torch.where(high > low, high - low, torch.ones_like(high))
    columns = 4
    real_rows = math.ceil(len(rows_of_real) / columns)
    rows = real_rows + math.ceil(len(shown) / columns)
    width, height = panel
    image = Image.new("RGB", (columns * width, rows * height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    steps = shown.shape[1]
    for i, (series, real) in enumerate([(x, True) for x in rows_of_real] + [(x, False) for x in shown]):
        slot = i if real else real_rows * columns + (i - len(rows_of_real))
        top, left = (slot // columns) * height, (slot % columns) * width
        box = [left + 6, top + 6, left + width - 6, top + height - 6]
        draw.rectangle(box, fill=(238, 238, 238) if real else (255, 255, 255), outline=(200, 200, 200))
        for f in range(series.shape[1]):
            unit = ((series[:, f] - low[f]) / span[f]).clamp(0, 1)
            points = [(box[0] + t / max(steps - 1, 1) * (box[2] - box[0]), box[3] - float(u) * (box[3] - box[1]))
                      for t, u in enumerate(unit) if not u.isnan()]
            draw.line(points, fill=LINE_COLOURS[f % len(LINE_COLOURS)], width=2)
        if real:
            draw.text((box[0] + 3, box[1] + 1), "real", fill=(90, 90, 90))
    return image


def atomic_image_save(image: Image.Image, path: Path) -> None:
    """Write through a temporary file and rename, so a reader never sees half an image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    try:
        image.save(temp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # as a plain open() would have made it (mkstemp makes files owner-only)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save_image_folder(images: Tensor, out: Path) -> Path:
    """Images in [0, 1] as numbered PNG files in the new (or empty) folder `out`, whatever its name looks like."""
    if out.is_dir() and any(out.iterdir()):  # never mix new samples with (or overwrite) files already there
        raise GanforgeError(f"output folder {out} is not empty; give a new folder name for the PNG files")
    out.mkdir(parents=True, exist_ok=True)
    width = max(6, len(str(len(images))))
    for i, image in enumerate(images):
        image_grid(image[None], columns=1, padding=0).save(out / f"{i:0{width}d}.png")
    return out


def save_samples(samples: Tensor, kind: str, out: str | Path, reference: Tensor | None = None,
                 columns: int | None = None, names: list[str] | None = None,
                 statics: dict[str, list] | None = None) -> Path:
    """Save samples already in the user's form. The suffix of `out` chooses the format:
    `.png`/`.jpg` a grid (images; `columns` wide, else near-square), scatter plot (vectors) or line plots
    (sequences); `.npy` an array (sequences of different lengths NaN after their end); `.csv` a table (vectors;
    sequences one row per series and step while it lasts, with the feature `names` and each series' attributes,
    `statics`); no suffix a folder of numbered PNG files (images)."""
    out = Path(out)
    suffix = out.suffix.lower()
    samples = samples.detach().cpu()
    if suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        if kind == IMAGE:  # (N, H, W, C) uint8, the layout most image arrays use
            array = (samples.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        else:
            array = samples.numpy().astype(np.float32)
        np.save(out, array)
        return out
    if suffix == ".csv" and kind == SEQUENCE:  # long form: one row per series and step
        out.parent.mkdir(parents=True, exist_ok=True)
        n, steps, features = samples.shape
        index = np.stack(np.meshgrid(np.arange(n), np.arange(steps), indexing="ij"), -1).reshape(-1, 2)
        names = names or [f"x{i}" for i in range(features)]
        values = samples.reshape(-1, features).double().numpy()
        if not statics:
            lasting = ~np.isnan(values).all(1)
            header = ",".join(["series", "step", *names])
            table = np.concatenate([index.astype(np.float64), values], 1)[lasting]
            np.savetxt(out, table, delimiter=",", header=header, comments="", fmt=["%d", "%d"] + ["%.7g"] * features)
            return out
        import pandas as pd

        frame = pd.DataFrame({"series": index[:, 0], "step": index[:, 1]})
        for name, column in statics.items():  # an attribute on every row of its series
            frame[name] = np.asarray(column, dtype=object)[index[:, 0]]
        frame[names] = values
        frame[~np.isnan(values).all(1)].to_csv(out, index=False, float_format="%.7g")
        return out
    if suffix == ".csv":
        if kind == IMAGE:
            raise GanforgeError(f"output {out}: images can be written as .png/.jpg grids, .npy or a folder, not CSV")
        out.parent.mkdir(parents=True, exist_ok=True)
        header = ",".join(f"x{i}" for i in range(samples.shape[1]))
        np.savetxt(out, samples.numpy(), delimiter=",", header=header, comments="", fmt="%.7g")
        return out
    if suffix in IMAGE_OUTPUTS:
        picture = image_grid(samples, columns) if kind == IMAGE else sequence_plot(samples, reference) \
            if kind == SEQUENCE else scatter_plot(samples, reference)
        atomic_image_save(picture, out)
        return out
    if suffix == "":
        if kind != IMAGE:
            raise GanforgeError(f"output {out}: {kind}s can be written to .npy, .csv or a .png plot")
        return save_image_folder(samples, out)
    raise GanforgeError(f"output {out}: unknown format {suffix!r}; use .png, .jpg, .npy, .csv or a folder name")
