"""What every data kind provides: samples in model space, a batch stream, and a codec back to the user's form.

Model space is what the networks see: images as floats in [-1, 1] (N, C, H, W); vectors standardised per column.
The codec turns generator output back into the user's units and is stored as JSON in the run folder, so a saved
generator can produce data in the user's form without the original dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
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
    #: a sequence's layout beyond its features (`SeriesLayout`): a presence channel for series of different lengths,
    #: and per-series attributes that do not change over time
    layout: SeriesLayout | None = None

    def decode(self, x: Tensor) -> Tensor:
        """Generator output → the user's form: images in [0, 1], vectors and sequences in original units (a sequence
        of variable length has NaN in every step after its end; its attributes come from `decode_statics`)."""
        if self.kind == IMAGE:
            return ((x.float() + 1.0) / 2.0).clamp_(0.0, 1.0)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device)
        if self.layout is None:
            return x.float() * std + mean
        values = x[..., : len(self.mean)].float() * std + mean
        if self.layout.lengths:
            ended = torch.arange(x.shape[1], device=x.device) >= self.layout.lengths_of(x)[:, None]
            values = values.masked_fill(ended[..., None], float("nan"))
        return values

    def decode_statics(self, x: Tensor) -> dict[str, list]:
        """Each attribute of generated sequences in the user's form (numbers, or category names), by column."""
        return self.layout.decode_statics(x, len(self.mean)) if self.layout is not None else {}

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
        if self.layout is not None:
            found["layout"] = self.layout.to_json()
        return {**found, "columns": self.columns} if self.columns is not None else found

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Codec:
        """Rebuild a codec from `to_json` output."""
        layout = SeriesLayout.from_json(data["layout"]) if data.get("layout") else None
        return cls(kind=data["kind"], shape=tuple(data["shape"]), mean=data.get("mean"), std=data.get("std"),
                   columns=data.get("columns"), layout=layout)

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


@dataclass(frozen=True)
class Static:
    """One per-series attribute: a number min-max scaled to [-1, 1] (`centre`, `half`), or a category as one ±1
    channel per value (`values`)."""

    name: str
    centre: float | None = None
    half: float | None = None
    values: tuple[str, ...] | None = None
    integer: bool = False  # whole numbers in the data: decoded to the nearest one

    @property
    def width(self) -> int:
        """Channels it takes in model space."""
        return len(self.values) if self.values is not None else 1


@dataclass(frozen=True)
class SeriesLayout:
    """How a sequence's model-space channels beyond its F features are laid out, after them: one presence channel
    (+1 while the series lasts, −1 after its end, where the features are 0) when `lengths`, then the attributes."""

    lengths: bool = False
    statics: tuple[Static, ...] = ()
    # how often each combination of the categorical attributes' values (their indices, in order) occurs in the
    # training samples: the generator draws categories from these shares, so no value is ever dropped
    shares: tuple[tuple[tuple[int, ...], float], ...] = ()

    @property
    def categorical(self) -> tuple[Static, ...]:
        """The attributes that are categories."""
        return tuple(s for s in self.statics if s.values is not None)

    def counted(self, samples: Tensor) -> SeriesLayout:
        """This layout with the shares of the category combinations in model-space `samples`."""
        if not self.categorical:
            return self
        codes, at, channels = [], 0, self.static_channels(samples)
        for static in self.statics:
            if static.values is not None:
                codes.append(channels[:, at : at + static.width].argmax(1))
            at += static.width
        combos, counts = torch.unique(torch.stack(codes, 1), dim=0, return_counts=True)
        total = float(counts.sum())
        return replace(self, shares=tuple((tuple(c), n / total) for c, n in zip(combos.tolist(), counts.tolist(),
                                                                                  strict=True)))

    @property
    def static_width(self) -> int:
        """Channels the attributes take."""
        return sum(s.width for s in self.statics)

    @property
    def extra(self) -> int:
        """Channels beyond the features."""
        return int(self.lengths) + self.static_width

    def lengths_of(self, x: Tensor) -> Tensor:
        """Each model-space sequence's length: the steps before its presence channel first falls below 0 (at least
        1, so a series is never empty)."""
        presence = x[..., x.shape[-1] - self.extra]
        ended = presence < 0
        first = torch.where(ended.any(1), ended.float().argmax(1), torch.full_like(ended[:, 0], x.shape[1],
                                                                                     dtype=torch.long))
        return first.clamp_min(1)

    def static_channels(self, x: Tensor) -> Tensor:
        """The attribute channels of model-space sequences (N, T, C), read at the first step: (N, static_width)."""
        return x[:, 0, x.shape[-1] - self.static_width :]

    def encode_statics(self, columns: dict[str, list], n: int) -> Tensor:
        """Attributes in the user's form (each a list of n values, or one value for all) → (n, static_width); an
        attribute not given is NaN (the generator draws it)."""
        parts = []
        for static in self.statics:
            given = columns.get(static.name)
            values = None if given is None else list(given) if isinstance(given, list | tuple) else [given] * n
            if values is not None and len(values) != n:
                raise GanforgeError(f"attribute {static.name!r}: {len(values)} values given for {n} series")
            if static.values is None:
                column = torch.full((n, 1), float("nan")) if values is None else \
                    ((torch.tensor([float(v) for v in values], dtype=torch.float64) - static.centre)
                     / static.half).float()[:, None]
            elif values is None:
                column = torch.full((n, static.width), float("nan"))
            else:
                unknown = [v for v in values if str(v) not in static.values]
                if unknown:
                    raise GanforgeError(f"attribute {static.name!r} has no value {unknown[0]!r}; its values are "
                                        f"{', '.join(static.values[:20])}")
                index = torch.tensor([static.values.index(str(v)) for v in values])
                column = torch.nn.functional.one_hot(index, static.width).float() * 2.0 - 1.0
            parts.append(column)
        return torch.cat(parts, 1)

    def decode_statics(self, x: Tensor, features: int) -> dict[str, list]:
        """The attributes of model-space sequences, in the user's form, by name."""
        channels, found, at = x[:, 0, features + int(self.lengths) :].float().cpu(), {}, 0
        for static in self.statics:
            part = channels[:, at : at + static.width]
            if static.values is None:
                numbers = part[:, 0].double() * static.half + static.centre
                found[static.name] = numbers.round().long().tolist() if static.integer else numbers.tolist()
            else:
                found[static.name] = [static.values[i] for i in part.argmax(1).tolist()]
            at += static.width
        return found

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, inside the codec's."""
        found = {"lengths": self.lengths, "statics": [
            {"name": s.name, **({"values": list(s.values)} if s.values is not None else
                                {"centre": s.centre, "half": s.half, "integer": s.integer})} for s in self.statics]}
        if self.shares:
            found["shares"] = [[list(codes), share] for codes, share in self.shares]
        return found

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesLayout:
        """Rebuild a layout from `to_json` output."""
        statics = tuple(Static(s["name"], s.get("centre"), s.get("half"),
                               tuple(s["values"]) if s.get("values") is not None else None, bool(s.get("integer")))
                        for s in data.get("statics", []))
        shares = tuple((tuple(codes), float(share)) for codes, share in data.get("shares", []))
        if not shares and any(s.values is not None for s in statics):
            raise GanforgeError("this run's categorical attributes were made by an earlier ganforge (before they were "
                                "drawn from the data's shares); train it again")
        return cls(bool(data.get("lengths")), statics, shares)


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

    def model_samples(self, n: int, seed: int = 0) -> Tensor:
        """The samples `real_samples(n, seed)` draws, in model space with every channel (a sequence's presence and
        attributes too)."""
        return self.to_model_space(self.samples.index_select(0, self.real_index(n, seed)))

    def real_samples(self, n: int, seed: int = 0) -> Tensor:
        """`n` samples in the user's form (for plots and metrics), drawn without replacement if possible; their
        labels are `labels[real_index(n, seed)]`."""
        index = self.real_index(n, seed)
        return self.codec.decode(self.to_model_space(self.samples.index_select(0, index)))
