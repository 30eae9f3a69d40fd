"""What every data kind provides: samples in model space, a batch stream, and a codec back to the user's form.

Model space is what the networks see: images as floats in [-1, 1] (N, C, H, W); vectors standardised per column.
The codec turns generator output back into the user's units and is stored as JSON in the run folder, so a saved
generator can produce data in the user's form without the original dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ganforge.errors import GanforgeError

IMAGE = "image"
VECTOR = "vector"
SEQUENCE = "sequence"  # (T, F): T steps of F features, each feature min-max scaled to [-1, 1]


@dataclass
class Codec:
    """Maps between model space and the user's space for one dataset.

    For images the user's space is floats in [0, 1]; for vectors and sequences it is the original units (x·std +
    mean, per feature: a sequence's last axis). `columns` names a sequence's features.
    """

    kind: str
    shape: tuple[int, ...]
    mean: list[float] | None = None
    std: list[float] | None = None
    columns: list[str] | None = None

    def decode(self, x: Tensor) -> Tensor:
        """Generator output → the user's form: images in [0, 1], vectors in original units."""
        if self.kind == IMAGE:
            return ((x.float() + 1.0) / 2.0).clamp_(0.0, 1.0)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device)
        return x.float() * std + mean

    def encode(self, x: Tensor) -> Tensor:
        """The user's form → model space (the inverse of `decode`)."""
        if self.kind == IMAGE:
            return x.float() * 2.0 - 1.0
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device)
        return (x.float() - mean) / std

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, stored in `config.json` under `data_meta`."""
        found = {"kind": self.kind, "shape": list(self.shape), "mean": self.mean, "std": self.std}
        return {**found, "columns": self.columns} if self.columns is not None else found

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Codec:
        """Rebuild a codec from `to_json` output."""
        return cls(kind=data["kind"], shape=tuple(data["shape"]), mean=data.get("mean"), std=data.get("std"),
                   columns=data.get("columns"))

    @classmethod
    def for_vectors(cls, samples: Tensor) -> Codec:
        """Standardise each column; a constant column keeps unit scale so it decodes back to its constant."""
        mean = samples.double().mean(0)
        std = samples.double().std(0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))
        return cls(VECTOR, tuple(samples.shape[1:]), mean.tolist(), std.tolist())

    @classmethod
    def for_sequences(cls, samples: Tensor, columns: list[str] | None = None) -> Codec:
        """Min-max scale each feature of (N, T, F) sequences to [-1, 1] over all samples and steps (TimeGAN's
        scaling, centred); a constant feature keeps unit scale."""
        flat = samples.reshape(-1, samples.shape[-1])  # a view: min and max need no float64 copy of the data
        return cls.for_ranges(flat.amin(0).double(), flat.amax(0).double(), tuple(samples.shape[1:]), columns)

    @classmethod
    def for_ranges(cls, low: Tensor, high: Tensor, shape: tuple[int, ...], columns: list[str] | None = None) -> Codec:
        """The sequence codec mapping each feature's [low, high] to [-1, 1]."""
        half = (high - low) / 2
        half = torch.where(half > 0, half, torch.ones_like(half))
        return cls(SEQUENCE, shape, ((low + high) / 2).tolist(), half.tolist(),
                   columns or [f"x{i}" for i in range(shape[-1])])


class BatchOrder:
    """The data order of a run as a pure function of (seed, step).

    Sample positions form an endless stream; epoch e is a permutation seeded by (seed, e). Batch k holds stream
    positions [k·B, (k+1)·B). Because nothing here is stateful beyond a cache, resuming at step k reproduces the
    exact batches an uninterrupted run would have seen, with no RNG state to save.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if n < 1:
            raise GanforgeError("the dataset has no samples")
        # with several processes, batch k of rank r is slice r of the global batch k of batch_size × world
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size * world, seed, rank, world
        self.per_rank = batch_size
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> Tensor:
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=generator)
            self._epoch = epoch
        return self._perm

    def indices(self, step: int) -> Tensor:
        """Dataset indices of the batch used at `step` (0-based)."""
        start = step * self.batch_size
        end = start + self.batch_size
        parts = []
        while start < end:
            epoch, offset = divmod(start, self.n)
            take = min(end - start, self.n - offset)
            parts.append(self._permutation(epoch)[offset : offset + take])
            start += take
        batch = parts[0] if len(parts) == 1 else torch.cat(parts)
        return batch if self.world == 1 else batch[self.rank * self.per_rank : (self.rank + 1) * self.per_rank]


@dataclass
class Dataset:
    """A dataset held in memory: images as uint8 (N, C, H, W), vectors as float32 in model space.

    Subclasses that stream from disk override `batches`.
    """

    name: str
    codec: Codec
    samples: Tensor
    info: dict[str, Any] = field(default_factory=dict)
    #: class index of each sample (N,) int64, or None for unlabelled data
    labels: Tensor | None = None
    #: the name of each class index (folder names, `y` values, digits "0"–"9")
    class_names: list[str] | None = None

    @property
    def kind(self) -> str:
        """`image` or `vector`."""
        return self.codec.kind

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample in model space, e.g. (3, 64, 64) or (2,)."""
        return self.codec.shape

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    @property
    def num_classes(self) -> int:
        """How many classes the labels name (0 for unlabelled data)."""
        return len(self.class_names) if self.class_names else 0

    def class_counts(self) -> list[int]:
        """How many samples each class has."""
        if self.labels is None:
            raise GanforgeError(f"dataset {self.name} has no labels")
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()

    def class_frequencies(self) -> Tensor:
        """The share of each class among the samples (float64, sums to 1); training draws fake labels from it."""
        counts = torch.tensor(self.class_counts(), dtype=torch.float64)
        return counts / counts.sum()

    def without_labels(self) -> Dataset:
        """The same samples as an unlabelled dataset (`--labels none`)."""
        self.labels, self.class_names = None, None
        return self

    def to_model_space(self, raw: Tensor) -> Tensor:
        """Stored form → model space (uint8 images are scaled to [-1, 1] here, per batch, to save memory)."""
        if raw.dtype == torch.uint8:
            return raw.float().div_(127.5).sub_(1.0)
        return raw

    def batches(self, batch_size: int, seed: int, start_step: int, device: torch.device,
                with_labels: bool = False, rank: int = 0, world: int = 1) -> Iterator[Any]:
        """Endless batches in model space on `device`, starting at `start_step` of the run's fixed order;
        `with_labels`: (samples, class indices) pairs; `rank` of `world` processes: its slice of each batch."""
        order = BatchOrder(len(self), batch_size, seed, rank, world)
        step = start_step
        while True:
            index = order.indices(step)
            batch = self.to_model_space(self.samples.index_select(0, index).to(device, non_blocking=True))
            yield (batch, self.labels.index_select(0, index).to(device)) if with_labels else batch
            step += 1

    def real_index(self, n: int, seed: int = 0) -> Tensor:
        """The indices `real_samples(n, seed)` draws: `n` distinct samples if there are that many."""
        generator = torch.Generator().manual_seed(seed)
        return torch.randperm(len(self), generator=generator)[: min(n, len(self))]

    def real_samples(self, n: int, seed: int = 0) -> Tensor:
        """`n` samples in the user's form (for plots and metrics), drawn without replacement if possible; their
        labels are `labels[real_index(n, seed)]`."""
        index = self.real_index(n, seed)
        return self.codec.decode(self.to_model_space(self.samples.index_select(0, index)))
