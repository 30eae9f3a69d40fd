"""Data kinds: built-in sets, image folders and array files, all resolved from one `--data` string."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganforge.data import arrays, builtin, images, sequences, toy
from ganforge.data.base import IMAGE, SEQUENCE, VECTOR, BatchOrder, Codec, Dataset
from ganforge.data.sequences import SeriesOptions
from ganforge.errors import GanforgeError

log = logging.getLogger("ganforge")

__all__ = ["BUILTIN", "IMAGE", "SEQUENCE", "VECTOR", "BatchOrder", "Codec", "Dataset", "SeriesOptions",
           "absolute_data", "is_sequence_data", "load_dataset", "warn_if_few"]


@dataclass(frozen=True)
class Builtin:
    """A dataset shipped with ganforge."""

    description: str
    kind: str
    build: Callable[[int | None, int | None], Dataset]


BUILTIN: dict[str, Builtin] = {
    "ring": Builtin("8 Gaussians on the unit circle, std 0.01 (100,000 points)", VECTOR, lambda s, c: toy.ring()),
    "grid": Builtin("25 Gaussians on a 5×5 grid at {-4,-2,0,2,4}², std 0.05 (100,000 points)", VECTOR,
                    lambda s, c: toy.grid()),
    "digits": Builtin("scikit-learn's 1,797 handwritten digits, 8×8 grayscale, resized (default 32); 10 classes",
                      IMAGE,
                      builtin.digits),
    "stacked-digits": Builtin("50,000 RGB images, a random digit in each channel: 1,000 modes and classes (default "
                              "32)", IMAGE,
                              builtin.stacked_digits),
    "shapes": Builtin("10,000 procedural RGB circles, squares and triangles in 6 colours (default 32); 18 classes: "
                      "shape × colour", IMAGE,
                      builtin.shapes),
    "sines": Builtin("TimeGAN's sines: 10,000 sequences of 24 steps × 5 features, sin(f·t + φ) with f, φ ~ U[0, 0.1]",
                     SEQUENCE, sequences.builtin_sines),
}

ARRAY_SUFFIXES = {".npy", ".npz"}


def load_dataset(spec: str, image_size: int | None = None, channels: int | None = None, workers: int = -1,
                 cache_gb: float = 4.0, progress: bool = True, labels: bool = True,
                 series: SeriesOptions | None = None) -> Dataset:
    """Resolve `--data`: a built-in name, an image folder or an array file (`progress`: bars while decoding;
    `labels`: read class labels where the data has them, else leave every sample unlabelled); with `series`
    (`--sequence`), a CSV or array read as time series."""
    if series is not None or is_sequence_data(spec):
        check_spec(spec)
        if spec in BUILTIN:
            return BUILTIN[spec].build(None, None)
        path = Path(spec).expanduser()
        series = series or SeriesOptions()
        if path.suffix.lower() in ARRAY_SUFFIXES:
            return sequences.array_sequences(path, arrays.read_array(path), series)
        if path.suffix.lower() in (".csv", ".tsv", ".txt"):
            return sequences.csv_sequences(path, series)
        raise GanforgeError(f"data {spec}: time series are read from .csv files and .npy/.npz arrays")
    dataset = _load(spec, image_size, channels, workers, cache_gb, progress, labels)
    return dataset if labels else dataset.without_labels()


def is_sequence_data(spec: str, asked: bool = False) -> bool:
    """Whether `--data` is read as time series: when `asked` (`--sequence`), for the built-in sines, and for
    3-D float arrays whose two inner axes differ ((N, T, F); square ones and integer ones are grayscale images)."""
    if asked or (spec in BUILTIN and BUILTIN[spec].kind == SEQUENCE):
        return True
    path = Path(spec).expanduser()
    if path.suffix.lower() not in ARRAY_SUFFIXES or not path.is_file():
        return False
    try:
        array = arrays.read_array(path) if path.suffix.lower() == ".npz" else \
            np.load(path, mmap_mode="r", allow_pickle=False)
    except (GanforgeError, ValueError, OSError):
        return False  # the array loader names what is wrong with it
    return array.ndim == 3 and array.dtype.kind == "f" and array.shape[1] != array.shape[2]


FEW_SAMPLES = 100  # training data with fewer samples than this gets a warning (tables: 200 rows, in tabular/)


def warn_if_few(dataset: Dataset) -> None:
    """Say so when the data is too small for a GAN to learn more than copies of it."""
    n = len(dataset)
    if n < FEW_SAMPLES:
        what = "image" if dataset.kind == IMAGE else "sample"
        log.warning("%s has only %d %s%s: a GAN learns little from so few, and its samples will be close copies of "
                    "them (a few hundred or more is better)", dataset.name, n, what, "" if n == 1 else "s")


def absolute_data(spec: str | None) -> str | None:
    """A data path made absolute, so that the run can be resumed and evaluated from any directory."""
    if spec and spec not in BUILTIN and Path(spec).expanduser().exists():
        return str(Path(spec).expanduser().resolve())
    return spec


def check_spec(spec: str) -> None:
    """Refuse a `--data` that names nothing (no data, or neither a built-in nor an existing path), without loading."""
    if not spec:
        raise GanforgeError("no data given: pass --data with a folder of images, an .npy/.npz file or one of "
                            f"the built-in datasets ({', '.join(BUILTIN)})")
    if spec not in BUILTIN and not Path(spec).expanduser().exists():
        raise GanforgeError(f"data {spec!r} is neither an existing path nor a built-in dataset ({', '.join(BUILTIN)})")


def _load(spec: str, image_size: int | None, channels: int | None, workers: int, cache_gb: float, progress: bool,
          labels: bool) -> Dataset:
    check_spec(spec)
    if spec in BUILTIN:
        entry = BUILTIN[spec]
        if entry.kind == VECTOR and (image_size or channels):
            raise GanforgeError(f"dataset {spec} is 2-D points; --image-size and --channels do not apply")
        return entry.build(image_size, channels)
    path = Path(spec).expanduser()
    if path.is_dir():
        return images.image_folder(path, image_size or 64, channels, workers, cache_gb, progress, labels)
    if path.is_file():
        if path.suffix.lower() in ARRAY_SUFFIXES:
            return arrays.array_file(path, image_size, channels, labels)
        raise GanforgeError(
            f"data file {path} is not a supported kind; expected a folder of images or an .npy/.npz array"
        )
    raise GanforgeError(f"data {spec!r} is neither a folder nor a file")
