"""`.npy` / `.npz` files: vectors (N, D) or images (N, H, W), (N, H, W, C) or (N, C, H, W), integer or float."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.data.base import IMAGE, Codec, Dataset
from ganforge.errors import GanforgeError

PREFERRED_KEYS = ("x", "data", "images", "samples", "arr_0")
LABEL_KEYS = ("y", "labels")


def read_array(path: Path) -> np.ndarray:
    """Load the array without ever unpickling (object arrays are refused, so a stranger's file runs no code)."""
    with path.open("rb") as handle:
        head = handle.read(6)
    if head[:6] != b"\x93NUMPY" and head[:4] != b"PK\x03\x04":  # numpy's and zip's magic numbers
        raise GanforgeError(f"array file {path} is not a valid {path.suffix} file (it does not start like one; "
                            "save arrays with numpy.save or numpy.savez)")
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                if not keys:
                    raise GanforgeError(f"array file {path} holds no arrays")
                data_keys = [k for k in keys if k not in LABEL_KEYS]
                key = data_keys[0] if len(data_keys) == 1 else next((k for k in PREFERRED_KEYS if k in keys), None)
                if key is None:
                    raise GanforgeError(
                        f"array file {path} holds several arrays ({', '.join(keys)}); name the data 'x'"
                    )
                return archive[key]
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error).lower() or "object" in str(error).lower():
            raise GanforgeError(f"array file {path} holds Python objects; expected a numeric array") from None
        raise GanforgeError(f"array file {path} could not be read: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise GanforgeError(f"array file {path} could not be read: {error}") from None


def read_labels(path: Path, n: int) -> tuple[torch.Tensor, list[str]] | None:
    """The `y` (or `labels`) array of an .npz file as class indices and class names, or None if it has none.

    Integer labels name classes 0…max (a gap is a class with no samples: an error); text labels are sorted."""
    if path.suffix.lower() != ".npz":
        return None
    with np.load(path, allow_pickle=False) as archive:
        key = next((k for k in LABEL_KEYS if k in archive), None)
        if key is None:
            return None
        try:
            y = archive[key]
        except ValueError:
            raise GanforgeError(f"array file {path}: labels {key!r} hold Python objects; expected integers or "
                                "text") from None
    if y.ndim != 1 or len(y) != n:
        raise GanforgeError(f"array file {path}: labels {key!r} have shape {y.shape}; expected ({n},), one per sample")
    if y.dtype.kind in "iub":
        if y.min() < 0:
            raise GanforgeError(f"array file {path}: labels {key!r} must be 0 or more, found {y.min()}")
        if y.max() >= n:  # integer labels name classes 0…max: more classes than samples leaves some empty
            raise GanforgeError(f"array file {path}: labels {key!r} go up to {y.max()} for {n} samples; integer "
                                "labels must name classes 0, 1, 2, … with samples in each")
        names = [str(c) for c in range(int(y.max()) + 1)]
        labels = torch.from_numpy(y.astype(np.int64))
    elif y.dtype.kind in "US":
        values = y.astype(str)
        names = sorted(set(values.tolist()))
        labels = torch.from_numpy(np.searchsorted(np.array(names), values).astype(np.int64))
    else:
        raise GanforgeError(f"array file {path}: labels {key!r} have dtype {y.dtype}; expected integers or text")
    from ganforge.data.images import check_classes

    check_classes(f"array file {path}", labels, names)
    return labels, names


def _images_nchw(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 3:
        return array[:, None]
    last, first = array.shape[3], array.shape[1]
    if last in (1, 3, 4) and first not in (1, 3, 4):
        return array.transpose(0, 3, 1, 2)
    if first in (1, 3, 4):
        return array
    raise GanforgeError(
        f"array file {path} has shape {array.shape}; images need 1, 3 or 4 channels first or last"
    )


def _to_unit_range(array: np.ndarray, path: Path) -> torch.Tensor:
    """Integer images by their dtype's range; float images as [0, 1], [−1, 1] or [0, 255] by their values."""
    if array.dtype == np.uint8:
        return torch.from_numpy(array.astype(np.float32) / 255.0)
    if np.issubdtype(array.dtype, np.integer):
        top = 65535.0 if array.max(initial=0) > 255 else 255.0
        return torch.from_numpy((array.astype(np.float64) / top).astype(np.float32)).clamp_(0, 1)
    low, high = float(array.min()), float(array.max())
    if low >= -1.0 - 1e-6 and high <= 1.0 + 1e-6 and low < 0:
        return torch.from_numpy(((array + 1.0) / 2.0).astype(np.float32)).clamp_(0, 1)
    if low >= 0 and high <= 1.0 + 1e-6:
        return torch.from_numpy(array.astype(np.float32)).clamp_(0, 1)
    if low >= 0 and high <= 255.0 + 1e-6:
        return torch.from_numpy((array / 255.0).astype(np.float32))
    raise GanforgeError(
        f"array file {path} holds image values in [{low:g}, {high:g}]; expected [0, 1], [-1, 1] or [0, 255]"
    )


def array_file(path: Path, size: int | None, channels: int | None, labels: bool = True) -> Dataset:
    """An array file as a dataset: 2-D arrays are vectors, 3-D and 4-D arrays are images; with `labels`, an .npz
    file's `y` array labels them."""
    dataset = _array_dataset(path, read_array(path), size, channels)
    found = read_labels(path, len(dataset)) if labels else None
    if found is not None:
        dataset.labels, dataset.class_names = found
        dataset.info["labels_from"] = "y"
    return dataset


def _array_dataset(path: Path, array: np.ndarray, size: int | None, channels: int | None) -> Dataset:
    if array.dtype.kind not in "biuf":
        raise GanforgeError(f"array file {path} has dtype {array.dtype}; expected numbers (int or float)")
    if array.ndim < 2 or array.ndim > 4 or array.shape[0] == 0:
        raise GanforgeError(
            f"array file {path} has shape {array.shape}; expected (N, D) vectors or (N, H, W[, C]) images"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise GanforgeError(f"array file {path} contains NaN or infinite values")
    if array.ndim == 2:
        samples = torch.from_numpy(array.astype(np.float32))
        codec = Codec.for_vectors(samples)
        return Dataset(path.stem, codec, codec.encode(samples), {"source": str(path)})
    images = _to_unit_range(_images_nchw(array, path), path)
    if images.shape[1] == 4:  # composite alpha on white, as for image files
        alpha = images[:, 3:4]
        images = images[:, :3] * alpha + (1 - alpha)
    target_channels = channels or images.shape[1]
    if target_channels == 1 and images.shape[1] == 3:
        images = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif target_channels == 3 and images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    height, width = images.shape[2:]
    size = size or height
    if (height, width) != (size, size):
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        images = images[:, :, top : top + side, left : left + side]
        images = F.interpolate(images, size=(size, size), mode="bicubic", antialias=side > size,
                               align_corners=False).clamp_(0, 1)
    stored = (images * 255.0 + 0.5).to(torch.uint8).contiguous()
    return Dataset(path.stem, Codec(IMAGE, tuple(stored.shape[1:])), stored, {"source": str(path)})
