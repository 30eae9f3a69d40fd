"""Images from a folder (recursive) or decoded elsewhere: one careful conversion to a fixed size and channel count.

Any mode Pillow reads is handled: alpha and palette transparency are composited on white, 16-bit and 32-bit
grayscale are scaled to 8 bits, CMYK/YCbCr/LAB go through RGB. Decoding runs in DataLoader worker processes, and the
decoded uint8 tensors are cached in memory only when they fit in `--cache-gb`; larger folders stream from disk.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from tqdm.auto import tqdm

from ganforge.data.base import IMAGE, BatchOrder, Codec, Dataset
from ganforge.errors import GanforgeError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm", ".pnm"}
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
log = logging.getLogger("ganforge")


def _to_8bit(image: Image.Image) -> Image.Image:
    """Scale high-bit-depth grayscale to 8 bits by its nominal range (16-bit PNG/TIFF, 32-bit int, float)."""
    if image.mode.startswith("I;16") or image.mode == "I":
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        top = 1.0 if array.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return image


def flatten_to(image: Image.Image, channels: int) -> Image.Image:
    """Any Pillow image → 8-bit 'L' or 'RGB', transparency composited on white."""
    image = _to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("L" if channels == 1 else "RGB")


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to `size` and centre-crop to size×size."""
    if image.size == (size, size):
        return image
    return ImageOps.fit(image, (size, size), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))


def to_tensor(image: Image.Image) -> Tensor:
    """An 'L' or 'RGB' Pillow image → uint8 tensor (C, H, W)."""
    array = np.asarray(image, dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.require(array, requirements=("C", "W")))  # Pillow's buffers can be read-only


def decode_file(path: Path, size: int, channels: int) -> Tensor:
    """Read one file (first frame of animations) → uint8 (C, size, size). Raises OSError/ValueError if bad."""
    with Image.open(path) as image:
        image.seek(0)
        image.load()
        return to_tensor(fit_square(flatten_to(image, channels), size))


def list_images(folder: Path) -> list[Path]:
    """All image files below `folder`, sorted so the order is the same on every machine."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def guess_channels(files: list[Path], probe: int = 256) -> int:
    """1 when every probed file is grayscale, else 3 (reads headers only)."""
    for path in files[:probe]:
        try:
            with Image.open(path) as image:
                if image.mode not in GRAYSCALE_MODES:
                    if image.mode == "P":
                        rgb = np.asarray(image.convert("RGB"))
                        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
                            continue
                    return 3
        except (OSError, ValueError, UnidentifiedImageError):
            continue
    return 1


class _DecodeFiles(TorchDataset):
    """Decodes files by index in worker processes; a bad file yields an empty tensor, counted by the caller."""

    def __init__(self, files: list[Path], size: int, channels: int):
        self.files, self.size, self.channels = files, size, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Tensor:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow's decompression-bomb and EXIF chatter
                return decode_file(self.files[index], self.size, self.channels)
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError):
            return torch.empty(0, dtype=torch.uint8)


def _collate_list(items: list[Tensor]) -> list[Tensor]:
    return items


def _report_skipped(folder: Path, bad: list[Path]) -> None:
    if bad:
        names = ", ".join(p.name for p in bad[:3]) + (", …" if len(bad) > 3 else "")
        log.warning("skipped %d unreadable or truncated file%s in %s: %s",
                    len(bad), "s" if len(bad) > 1 else "", folder, names)


class StreamingImageFolder(Dataset):
    """An image folder too large to cache: each batch is decoded from disk by DataLoader workers."""

    def __init__(self, name: str, codec: Codec, files: list[Path], workers: int, info: dict):
        super().__init__(name, codec, torch.empty(0, dtype=torch.uint8), info)
        self.files, self.workers = files, workers

    def __len__(self) -> int:
        return len(self.files)

    def _loader(self, indices: list[list[int]]) -> DataLoader:
        channels, size = self.codec.shape[0], self.codec.shape[1]
        return DataLoader(_DecodeFiles(self.files, size, channels), batch_sampler=indices,
                          num_workers=self.workers, collate_fn=_collate_list,
                          persistent_workers=False, prefetch_factor=4 if self.workers else None)

    def batches(self, batch_size: int, seed: int, start_step: int, device: torch.device,
                with_labels: bool = False, rank: int = 0, world: int = 1) -> Iterator[Any]:
        order = BatchOrder(len(self), batch_size, seed, rank, world)
        step = start_step
        chunk = 1000  # steps per DataLoader; the order is a pure function of the step, so chunking is invisible
        while True:
            plan = [order.indices(s).tolist() for s in range(step, step + chunk)]
            for indices, items in zip(plan, self._loader(plan), strict=False):
                keep = self._stand_ins(indices, items)
                batch = self.to_model_space(torch.stack([items[i] for i in keep]).to(device, non_blocking=True))
                if with_labels:
                    yield batch, self.labels[[indices[i] for i in keep]].to(device)
                else:
                    yield batch
            step += chunk

    def real_samples(self, n: int, seed: int = 0) -> Tensor:
        index = self.real_index(n, seed).tolist()
        items = next(iter(self._loader([index])))
        keep = self._stand_ins(index, items)
        return self.codec.decode(self.to_model_space(torch.stack([items[i] for i in keep])))

    def _stand_ins(self, indices: list[int], items: list[Tensor]) -> list[int]:
        """Positions to use for each item: itself, or for a file that went bad after listing, a good item of the same
        class (any good item for unlabelled data), so batches keep their size and every image its label."""
        good = [i for i, t in enumerate(items) if t.numel()]
        if not good:
            raise GanforgeError(f"no image in a batch from {self.name} could be decoded")
        if len(good) == len(items):
            return list(range(len(items)))
        label = (lambda i: int(self.labels[indices[i]])) if self.labels is not None else (lambda i: 0)
        keep = []
        for i, item in enumerate(items):
            same = [g for g in good if label(g) == label(i)]
            keep.append(i if item.numel() else (same or good)[i % len(same or good)])
        return keep


def default_workers(requested: int) -> int:
    """Decoding worker processes: as asked, or one per spare core (none on a single core)."""
    if requested >= 0:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(8, max(0, cores)) if cores > 1 else 0


FEW_IMAGES = 10  # a class with fewer images than this gets a warning


def folder_classes(folder: Path, files: list[Path]) -> list[str] | None:
    """The class folder of each file when the images sit in two or more subfolders of `folder` (pets/cat/…,
    pets/dog/…), else None. Images loose beside the class folders, and a class folder without images, are errors."""
    top = [path.relative_to(folder).parts for path in files]
    classes = sorted({parts[0] for parts in top if len(parts) > 1})
    if len(classes) < 2:
        return None
    loose = [folder / parts[0] for parts in top if len(parts) == 1]
    if loose:
        raise GanforgeError(f"image folder {folder} has class subfolders ({', '.join(classes[:5])}"
                            f"{', …' if len(classes) > 5 else ''}) and {len(loose)} image(s) outside them "
                            f"({loose[0].name}, …); move them into a class folder, or pass --labels none to train "
                            "without classes")
    empty = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name not in classes)
    if empty:
        raise GanforgeError(f"class folder {folder / empty[0]} has no images (classes are the subfolders of "
                            f"{folder}); add images, remove the folder, or pass --labels none")
    return [parts[0] for parts in top]


def check_classes(source: str, labels: Tensor, names: list[str]) -> None:
    """A class without samples is an error; one with very few gets a warning."""
    counts = torch.bincount(labels, minlength=len(names)).tolist()
    missing = [name for name, count in zip(names, counts, strict=True) if count == 0]
    if missing:
        raise GanforgeError(f"{source}: class {missing[0]!r} has no readable samples"
                            f"{f' (nor {len(missing) - 1} more)' if len(missing) > 1 else ''}")
    few = [f"{name} ({count})" for name, count in zip(names, counts, strict=True) if count < FEW_IMAGES]
    if few:
        log.warning("%s: %d class%s fewer than %d samples: %s; a conditional GAN learns little from so few",
                    source, len(few), "es have" if len(few) > 1 else " has", FEW_IMAGES,
                    ", ".join(few[:5]) + (", …" if len(few) > 5 else ""))


def _labelled(dataset: Dataset, folder: Path, kept: list[Path], classes: list[str] | None,
              files: list[Path]) -> Dataset:
    """Attach the class of each kept file (files that failed to decode were dropped from `kept`)."""
    if classes is None:
        return dataset
    names = sorted(set(classes))
    by_file = dict(zip(files, classes, strict=True))
    labels = torch.tensor([names.index(by_file[path]) for path in kept], dtype=torch.long)
    check_classes(f"image folder {folder}", labels, names)
    dataset.labels, dataset.class_names = labels, names
    dataset.info["labels_from"] = "subfolders"
    return dataset


def image_folder(folder: Path, size: int, channels: int | None, workers: int, cache_gb: float,
                 progress: bool = True, labels: bool = True) -> Dataset:
    """A folder of images as a dataset: cached in memory as uint8 when it fits in `cache_gb`, else streamed.

    With `labels`, images in two or more subfolders are labelled by their subfolder (the class names)."""
    files = list_images(folder)
    if not files:
        raise GanforgeError(
            f"image folder {folder} has no image files (expected {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    classes = folder_classes(folder, files) if labels else None
    channels = channels or guess_channels(files)
    codec = Codec(IMAGE, (channels, size, size))
    workers = default_workers(workers)
    info = {"source": str(folder), "files": len(files)}
    if len(files) * channels * size * size <= cache_gb * 2**30:
        loader = DataLoader(_DecodeFiles(files, size, channels), batch_size=64, num_workers=workers,
                            collate_fn=_collate_list)
        decoded: list[Tensor] = []
        kept: list[Path] = []
        bad: list[Path] = []
        with tqdm(total=len(files), desc=f"decoding {folder.name}", unit="img", leave=False,
                  disable=not progress) as bar:
            for items in loader:
                for item in items:
                    path = files[len(decoded) + len(bad)]
                    if item.numel():
                        decoded.append(item)
                        kept.append(path)
                    else:
                        bad.append(path)
                bar.update(len(items))
        _report_skipped(folder, bad)
        if not decoded:
            raise GanforgeError(f"image folder {folder} has no readable image ({len(bad)} files failed to decode)")
        info["skipped"] = len(bad)
        return _labelled(Dataset(folder.name, codec, torch.stack(decoded), info), folder, kept, classes, files)
    # Too big to cache: drop files whose header cannot be read now; truncation is caught while streaming.
    readable, bad = [], []
    for path in tqdm(files, desc=f"checking {folder.name}", unit="file", leave=False,
                         disable=not progress):
        try:
            with Image.open(path):
                readable.append(path)
        except (OSError, ValueError, UnidentifiedImageError):
            bad.append(path)
    _report_skipped(folder, bad)
    if not readable:
        raise GanforgeError(f"image folder {folder} has no readable image")
    info["skipped"] = len(bad)
    return _labelled(StreamingImageFolder(folder.name, codec, readable, workers, info), folder, readable, classes,
                     files)
