"""A tensor run's trained generator, for use: `load` it from a run folder, `sample` and `interpolate` with it (by
class, with truncation), and `evaluate` it against real data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ganforge.data import Codec, Dataset, load_dataset
from ganforge.data.export import save_samples
from ganforge.data.sequences import series_options
from ganforge.errors import GanforgeError
from ganforge.models import build_models, sample_latent
from ganforge.training import checkpoint as ckpt
from ganforge.training.hardware import pick_device
from ganforge.training.run_folder import RunFolder


class TrainedGenerator:
    """A trained generator with everything needed to produce data in the user's form (and, for a conditional run,
    of the class asked for)."""

    def __init__(self, generator: torch.nn.Module, codec: Codec, latent: str, latent_dim: int,
                 device: torch.device, source: Path, step: int, class_names: list[str] | None = None,
                 class_counts: list[int] | None = None):
        self.generator, self.codec = generator.eval(), codec
        self.latent, self.latent_dim, self.device = latent, latent_dim, device
        self.source, self.step = source, step
        self.class_names, self.class_counts = class_names, class_counts

    @property
    def kind(self) -> str:
        """`image` or `vector`."""
        return self.codec.kind

    @property
    def conditional(self) -> bool:
        """Whether samples are made of a class asked for."""
        return bool(self.class_names)

    def class_index(self, label: str | int) -> int:
        """A class given by name (or, failing that, by index) → its index; an unknown one is refused by name."""
        if not self.class_names:
            raise GanforgeError("this run is not class-conditional: it takes no class (train on labelled data, "
                                "or with --conditional on a built-in that has classes)")
        text = str(label)
        if text in self.class_names:
            return self.class_names.index(text)
        if text.isdecimal() and int(text) < len(self.class_names):
            return int(text)
        shown = ", ".join(self.class_names[:20]) + (", …" if len(self.class_names) > 20 else "")
        raise GanforgeError(f"unknown class {text!r}; this run's {len(self.class_names)} classes are: {shown}")

    def labels_for(self, n: int, label: str | int | Sequence[str | int] | Tensor | None,
                   rng: torch.Generator | None = None) -> Tensor | None:
        """Class indices for `n` samples: one class, one per sample, or (None) drawn by the data's frequencies."""
        if not self.conditional:
            if label is not None:
                self.class_index(label)  # raises: the run takes no class
            return None
        if label is None:
            weights = torch.tensor(self.class_counts or [1] * len(self.class_names), dtype=torch.float)
            return torch.multinomial(weights, n, replacement=True, generator=rng)
        if isinstance(label, Tensor):
            return label.long()
        if isinstance(label, str | int):
            return torch.full((n,), self.class_index(label), dtype=torch.long)
        indices = [self.class_index(item) for item in label]
        if len(indices) != n:
            raise GanforgeError(f"{len(indices)} labels given for {n} samples")
        return torch.tensor(indices, dtype=torch.long)

    def latent_noise(self, n: int, rng: torch.Generator | None, truncation: float | None = None,
                     truncation_mode: str = "resample") -> Tensor:
        """Noise for `n` samples, truncated when asked (see `truncate`)."""
        z = sample_latent(self.latent, n, self.latent_dim, rng)
        return z if truncation is None else truncate(z, truncation, truncation_mode, self.latent, rng)

    @torch.no_grad()
    def generate(self, z: Tensor, labels: Tensor | None = None, batch_size: int = 256,
                 progress: bool = False, statics: Tensor | None = None) -> Tensor:
        """Samples in the user's form from given noise (and class indices or class weights (N, K); or, for series
        with attributes, their model-space channels (N, C), NaN where the generator draws them)."""
        return self.codec.decode(self.generate_raw(z, labels, batch_size, progress, statics))

    @torch.no_grad()
    def generate_raw(self, z: Tensor, labels: Tensor | None = None, batch_size: int = 256,
                     progress: bool = False, statics: Tensor | None = None) -> Tensor:
        """What `generate` decodes: the generator's output in model space, on the CPU."""
        parts = []
        quiet = not progress or len(z) <= batch_size
        for start in tqdm(range(0, len(z), batch_size), desc="sampling", unit="batch", disable=quiet, leave=False):
            chunk = z[start : start + batch_size].to(self.device)
            if labels is not None:
                out = self.generator(chunk, labels[start : start + batch_size].to(self.device))
            elif statics is not None:
                out = self.generator(chunk, statics[start : start + batch_size].to(self.device))
            else:
                out = self.generator(chunk)
            parts.append(out.float().cpu())
        return torch.cat(parts)

    def sample(self, n: int, seed: int | None = None, batch_size: int = 256, progress: bool = False,
               label: str | int | Sequence[str | int] | Tensor | None = None, truncation: float | None = None,
               truncation_mode: str = "resample", static: dict[str, Any] | None = None) -> Tensor:
        """`n` samples in the user's form (images in [0, 1] as (N, C, H, W); vectors in original units; sequences
        (N, T, F), NaN after the end of a shorter one).

        The same seed gives the same samples, whatever `batch_size` is (batch norm runs in eval mode). `label`: a
        class name or index for all samples, or one per sample (conditional runs; default: drawn by the data's
        class frequencies). `truncation` t: noise beyond ±t is redrawn (`resample`) or all noise is scaled by t
        (`scale`), trading variety for typical samples. `static`: series attributes to fix, by column (one value
        for all, or one per series); `sample_series` also gives the attributes.
        """
        return self.codec.decode(self._sample_raw(n, seed, batch_size, progress, label, truncation, truncation_mode,
                                                  static))

    def sample_series(self, n: int, seed: int | None = None, batch_size: int = 256, progress: bool = False,
                      static: dict[str, Any] | None = None, truncation: float | None = None,
                      truncation_mode: str = "resample") -> tuple[Tensor, dict[str, list]]:
        """`n` series (as `sample` gives them) and their attributes by column (empty without `--static-columns`);
        `static` fixes some attributes (a value for all series, or one per series) and draws the series for them."""
        raw = self._sample_raw(n, seed, batch_size, progress, None, truncation, truncation_mode, static)
        return self.codec.decode(raw), self.codec.decode_statics(raw)

    def _sample_raw(self, n: int, seed: int | None, batch_size: int, progress: bool, label: Any,
                    truncation: float | None, truncation_mode: str, static: dict[str, Any] | None) -> Tensor:
        if n < 1:
            raise GanforgeError(f"option --n must be at least 1, got {n}")
        layout = self.codec.layout
        if static and (layout is None or not layout.statics):
            raise GanforgeError("this run has no attributes to fix (train with --static-columns); got "
                                f"{', '.join(static)}")
        if static:
            unknown = [name for name in static if name not in {s.name for s in layout.statics}]
            if unknown:
                raise GanforgeError(f"option --static {unknown[0]!r} is not an attribute of this run; its "
                                    f"attributes are {', '.join(s.name for s in layout.statics)}")
        rng = torch.Generator().manual_seed(seed) if seed is not None else None
        z = self.latent_noise(n, rng, truncation, truncation_mode)
        labels = self.labels_for(n, label, rng)
        statics = layout.encode_statics(static, n) if static else None
        return self.generate_raw(z, labels, batch_size, progress, statics)

    def interpolate(self, frames: int, rows: int = 4, seed: int = 0, start: str | int | None = None,
                    end: str | int | None = None, label: str | int | None = None,
                    truncation: float | None = None, truncation_mode: str = "resample") -> Tensor:
        """`rows` × `frames` samples, row by row. With `start` and `end` classes: each row keeps its noise while the
        class embedding moves from one class to the other. Otherwise each row walks from one noise vector to
        another (slerp for normal noise, a straight line for uniform), at class `label` in a conditional run."""
        if frames < 2 or rows < 1:
            raise GanforgeError(f"options --frames (at least 2) and --rows (at least 1) got {frames} and {rows}")
        rng = torch.Generator().manual_seed(seed)
        t = torch.linspace(0, 1, frames)
        if (start is None) != (end is None):
            raise GanforgeError("options --from and --to go together: the two classes to move between")
        if start is not None:
            a, b = self.class_index(start), self.class_index(end)
            z = self.latent_noise(rows, rng, truncation, truncation_mode).repeat_interleave(frames, 0)
            weights = torch.zeros(rows * frames, len(self.class_names))
            weights[:, a] = (1 - t).repeat(rows)
            weights[:, b] += t.repeat(rows)
            return self.generate(z, weights)
        ends = self.latent_noise(2 * rows, rng, truncation, truncation_mode)
        z = torch.cat([path(ends[i], ends[rows + i], t, spherical=self.latent == "normal") for i in range(rows)])
        labels = self.labels_for(rows, label, rng)  # refuses a class for an unconditional run
        return self.generate(z, None if labels is None else labels.repeat_interleave(frames))

    def save(self, samples: Tensor, out: str | Path, reference: Tensor | None = None,
             columns: int | None = None, statics: dict[str, list] | None = None) -> Path:
        """Write samples (from `sample`; a tensor or an array) as a grid/scatter PNG (`columns` wide), a folder of
        PNGs, `.npy` or `.csv`; a scatter plot of vectors shows `reference` (real data) behind them when given;
        a CSV of series holds their attributes (`statics`, from `sample_series`) on each row."""
        return save_samples(torch.as_tensor(samples), self.kind, out, reference, columns=columns,
                            names=self.codec.columns, statics=statics)


TRUNCATION_MODES = ("resample", "scale")


def truncate(z: Tensor, threshold: float, mode: str, latent: str = "normal",
             rng: torch.Generator | None = None) -> Tensor:
    """The truncation trick (Brock et al. 2019): `resample` redraws each normal component beyond ±threshold until it
    falls inside; `scale` moves noise toward its mean (0) by the factor `threshold`. Uniform noise is scaled."""
    if mode not in TRUNCATION_MODES:
        raise GanforgeError(f"option --truncation-mode must be one of {', '.join(TRUNCATION_MODES)}; got {mode!r}")
    if not threshold > 0:
        raise GanforgeError(f"option --truncation must be a positive number, got {threshold}")
    if latent != "normal":  # uniform noise has no tails to redraw: scale it, and never beyond its range
        return z * min(threshold, 1.0)
    if mode == "scale":
        return z * threshold
    z = z.clone()
    outside = z.abs() > threshold
    # redrawn from the normal distribution truncated to [-t, t] by its inverse CDF: exact, and no rejection loop
    # that would take forever for a small t
    low = torch.special.ndtr(torch.tensor(-threshold, dtype=torch.float64))
    u = torch.rand(int(outside.sum()), generator=rng, dtype=torch.float64)
    z[outside] = torch.special.ndtri(low + u * (1 - 2 * low)).clamp(-threshold, threshold).to(z.dtype)
    return z


def path(a: Tensor, b: Tensor, t: Tensor, spherical: bool = True) -> Tensor:
    """Points from `a` to `b` at fractions `t`: spherical interpolation (slerp, which keeps normal noise at a typical
    norm) or a straight line."""
    if not spherical:
        return a + t[:, None] * (b - a)
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if float(omega) < 1e-6:
        return a + t[:, None] * (b - a)
    return (torch.sin((1 - t) * omega)[:, None] * a + torch.sin(t * omega)[:, None] * b) / torch.sin(omega)


def load(run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "auto") -> TrainedGenerator:
    """The generator of a run (its latest complete checkpoint unless `checkpoint` names one)."""
    run = RunFolder.open(run_dir)
    stored = run.read_config()
    if stored.get("kind", "tensor") not in ("tensor", "sequence"):
        raise GanforgeError(f"run {run.path} is a {stored['kind']} run, which has no image, vector or sequence "
                            "generator to load (tables: ganforge.tabular.run.load_table_run, or `ganforge sample`)")
    try:
        codec = Codec.from_json(stored["data"])
        model = stored["model"]
        latent = stored["config"]["latent"]
    except (KeyError, TypeError) as error:
        raise GanforgeError(f"{run.config_path} is missing {error}; it was not written by ganforge") from None
    if checkpoint is None:
        path = run.latest_checkpoint()
    elif str(checkpoint) == "best":
        path = run.checkpoints / "best"
        if not path.is_dir():
            raise GanforgeError(f"run {run.path} has no best checkpoint (train with --eval-every to keep one)")
    else:
        path = Path(checkpoint)
        if not path.is_dir() and (run.checkpoints / path).is_dir():  # a name such as step_000300
            path = run.checkpoints / path
    tensors, _, state = ckpt.load_checkpoint(path)
    conditioning = model.get("conditional") or {}
    generator, _ = build_models(model["name"], codec.shape, model["options"], classes=conditioning.get("classes", 0),
                                cond=conditioning.get("method", "cbn-proj"), layout=codec.layout)
    name = "generator_ema" if any(k.startswith("generator_ema.") for k in tensors) else "generator"
    ckpt.load_module_tensors({name: generator}, tensors, path)
    target = pick_device(device)
    names = stored["data"].get("classes") if conditioning else None
    return TrainedGenerator(generator.to(target), codec, latent, model["options"]["latent_dim"], target, path,
                            int(state["step"]), names, stored["data"].get("class_counts"))


def real_data_for(run: RunFolder, real: str | None = None) -> Dataset:
    """The run's training data (or `real`), at the size and channel count the run's generator makes."""
    stored = run.read_config()
    config, codec = stored["config"], Codec.from_json(stored["data"])
    size = channels = None
    if codec.kind == "image":
        channels, size = codec.shape[0], codec.shape[1]
    conditional = bool(stored["model"].get("conditional"))
    dataset = load_dataset(real or config["data"], size, channels, config.get("workers", -1),
                           config.get("cache_gb", 4.0), labels=conditional, series=series_options(config))
    if dataset.sample_shape != codec.shape:
        raise GanforgeError(f"--real {real} has samples of shape {list(dataset.sample_shape)}; the run's generator "
                            f"makes {list(codec.shape)}")
    classes = stored["data"].get("classes") if conditional else None
    if classes and dataset.class_names != classes:
        found = ", ".join((dataset.class_names or ["none"])[:10])
        raise GanforgeError(f"--real {real or config['data']} has classes {found}; the run's generator makes "
                            f"{', '.join(classes[:10])} (give real data labelled with the same classes)")
    return dataset


def evaluate(run_dir: str | Path, real: str | None = None, n: int = 10_000, metrics: str | list[str] | None = None,
             features: str | None = None, inception_weights: str | None = None,
             checkpoint: str | Path | None = None, device: str = "auto", seed: int = 0,
             progress: bool = True, repeats: int | None = None) -> dict[str, Any]:
    """Measure a run's generator against real data and write `eval.json` in the run folder.

    Metrics default to fd, kid, pr, dc (+ is with class logits, + modes where defined); features default to raw for
    vectors, digits for the digit sets and inception for other images. Time series get discriminative, predictive,
    context-fid and correlational, each repeated as its paper does unless `repeats` says how often.
    """
    from ganforge.metrics.evaluate import evaluate as run_metrics
    from ganforge.metrics.evaluate import parse_metrics

    if n < 2:
        raise GanforgeError(f"option --n must be at least 2, got {n}")
    run = RunFolder.open(run_dir)
    generator = load(run_dir, checkpoint=checkpoint, device=device)
    dataset = real_data_for(run, real)
    def draw(count: int, s: int, labels: Tensor | None = None) -> Tensor:
        return generator.sample(count, seed=s + 1, progress=progress, label=labels)

    results = run_metrics(draw, dataset, n=n, metrics=parse_metrics(metrics), features=features,
                          inception_weights=inception_weights, device=generator.device, seed=seed, progress=progress,
                          announce=True, conditional=generator.conditional, repeats=repeats)
    report = {"step": generator.step, "checkpoint": str(generator.source), "real": dataset.name, **results}
    ckpt.write_json(run.path / "eval.json", report)
    return report
