"""The full configuration of a training run: defaults, TOML files, overrides and validation.

Everything a run needs to be rebuilt lives here, so `config.json` in a run folder is just `asdict(config)`.
The model families' options are not written here: each family declares them (`ganforge.models.ModelOption`), and
`TrainConfig` gets one field per declared option.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from ganforge import models
from ganforge.data.pairs import IMAGE_TASKS
from ganforge.data.superres import DEGRADATIONS, SCALES
from ganforge.errors import GanforgeError
from ganforge.models.superres import PERCEPTUAL, SR_GENERATORS

LATENT_KINDS = ("normal", "uniform")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
DIVERGENCE_ACTIONS = ("rollback", "stop")
LR_SCHEDULES = ("constant", "linear", "cosine")
LABEL_SOURCES = ("auto", "none")
COND_METHODS = ("cbn-proj", "acgan", "concat")  # models.conditional documents each
# Options that may change when an image or vector run is resumed: they do not alter what is being learnt.
# (lr_schedule is not among them: with --steps as the horizon, a new total would change the schedule's shape)
RESUMABLE = frozenset({"steps", "data", "device", "threads", "workers", "cache_gb", "log_every", "sample_every",
                       "checkpoint_every", "keep_checkpoints", "out", "eval_every", "eval_n", "eval_metrics",
                       "eval_features", "eval_real", "inception_weights", "best_metric", "diagnose",
                       "on_divergence", "tensorboard"})


@dataclass
class _GeneralOptions:
    """The options of `ganforge train` that do not belong to a model family; `TrainConfig` adds those that do."""

    # data
    data: str = ""
    image_size: int | None = None
    channels: int | None = None
    labels: str = "auto"  # auto: class subfolders, an .npz `y`, a built-in's classes; none: ignore them
    conditional: bool | None = None  # None: on for labelled folders and arrays, off for built-ins
    cond: str = "cbn-proj"
    # model
    model: str = "auto"
    latent: str = "normal"
    # the families' options (latent_dim, g_width, ...) are added by _sync_model_fields
    spectral_norm: bool = False
    pack: int = 1
    # objective and optimisation
    loss: str = "nonsaturating"
    d_steps: int = 1
    batch_size: int | None = None  # None: the model family's default
    steps: int = 10_000
    lr_g: float | None = None
    lr_d: float | None = None
    lr_schedule: str = "constant"
    betas_g: tuple[float, float] = (0.5, 0.999)
    betas_d: tuple[float, float] = (0.5, 0.999)
    seed: int = 0
    # regularisers
    r1: float = 0.0
    r2: float = 0.0
    gp: float | None = None  # None: 10 for wgan-gp, else off
    lazy_every: int = 1
    label_smoothing: float = 0.0
    instance_noise: float = 0.0
    ema: float | None = None  # None: the model family's default (0 = off)
    augment: str = ""
    augment_p: str = "auto"  # ADA: auto, ada, off, or a fixed probability; see regularizers.ada
    preset: str = ""
    # tables (CSV, TSV, parquet)
    epochs: int | None = None  # None: TableGAN's default (by the table's size)
    categorical: str = ""
    ignore: str = ""
    target: str = ""  # tables: a column kept predictable from the others
    # sequences (time series)
    sequence: bool = False  # read a CSV or a (T, F) array as a time series, not a table or vectors
    window: int | None = None  # steps per sample, cut from a long series with stride 1
    time_column: str = ""
    id_column: str = ""
    static_columns: str = ""  # comma-separated columns that are constant within each series (its attributes)
    # image to image
    task: str = ""  # paired, a task that makes pairs from photos (data.pairs.PAIR_TASKS), or unpaired (CycleGAN)
    data_b: str = ""  # --task unpaired: the folder of domain B's images
    scale: int = 4  # --task sr: the upscaling factor
    degradation: str = "bicubic"  # --task sr: how inputs are made from the photos (data.superres.DEGRADATIONS)
    pixel_steps: int | None = None  # --task sr: steps on pixels alone before the GAN phase (None: half of --steps)
    gan_lr: float | None = None  # --task sr: the GAN phase's learning rate (None: ESRGAN's 1e-4)
    perceptual: str = "auto"  # --task sr: the perceptual loss's network (training.superres.PERCEPTUAL)
    sr_generator: str = "srresnet"  # --task sr: the generator (models.superres.SR_GENERATORS)
    gan_weight: float | None = None  # pix2pix: the adversarial term's weight beside 100·L1 (None: 1; 0: L1 alone)
    # hardware
    device: str = "auto"
    precision: str = "auto"
    threads: int = 0
    workers: int = -1
    cache_gb: float = 4.0
    # the run folder
    out: str = ""
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    n_fixed_samples: int | None = None  # None: 64 images or 1,000 points
    # evaluation and diagnosis while training
    eval_every: int = 0
    eval_n: int = 2000
    eval_metrics: str | None = None
    eval_real: str = ""  # image to image: the held-out images measured while training
    eval_features: str | None = None
    inception_weights: str | None = None
    best_metric: str = "auto"
    diagnose: bool = True
    tensorboard: bool = False
    on_divergence: str = "rollback"
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> TrainConfig:
        """Reject values that cannot work, naming the option and what it accepts."""
        positive = ["d_steps", "pack", "lazy_every", "log_every", "sample_every", "checkpoint_every",
                    "keep_checkpoints"]
        for name in positive:
            if getattr(self, name) < 1:
                raise GanforgeError(f"option {_flag(name)} must be at least 1, got {getattr(self, name)}")
        if self.steps < 1:
            raise GanforgeError(f"option --steps must be at least 1 (a run of 0 steps trains nothing), got "
                                f"{self.steps}")
        counts = [name for name in models.option_names() if models.option_type(name) is int]
        for name in [*counts, "image_size", "threads", "batch_size", "n_fixed_samples", "epochs", "window"]:
            value = getattr(self, name)
            if value is not None and value < (0 if name == "threads" else 1):
                raise GanforgeError(f"option {_flag(name)} must be positive, got {value}")
        if self.channels is not None and self.channels not in (1, 3):
            raise GanforgeError(f"option --channels must be 1 or 3, got {self.channels}")
        _choice("latent", self.latent, LATENT_KINDS)
        _choice("device", self.device, DEVICES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("on_divergence", self.on_divergence, DIVERGENCE_ACTIONS)
        _choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _choice("labels", self.labels, LABEL_SOURCES)
        _choice("cond", self.cond, COND_METHODS)
        if self.task:
            _choice("task", self.task, IMAGE_TASKS)
        if self.eval_real and not self.task:
            raise GanforgeError("option --eval-real is the held-out images of an image-to-image run; give --task or "
                                "drop it")
        if self.data_b and self.task != "unpaired":
            raise GanforgeError("option --data-b is domain B of --task unpaired; give --task unpaired or drop it")
        if self.scale not in SCALES:
            raise GanforgeError(f"option --scale must be one of {', '.join(map(str, SCALES))}; got {self.scale}")
        _choice("degradation", self.degradation, DEGRADATIONS)
        _choice("perceptual", self.perceptual, PERCEPTUAL)
        _choice("sr_generator", self.sr_generator, SR_GENERATORS)
        if self.pixel_steps is not None and self.pixel_steps < 0:
            raise GanforgeError(f"option --pixel-steps must be 0 or more, got {self.pixel_steps}")
        if self.gan_lr is not None and not self.gan_lr > 0:
            raise GanforgeError(f"option --gan-lr must be above 0, got {self.gan_lr}")
        if self.gan_weight is not None and not self.gan_weight >= 0:
            raise GanforgeError(f"option --gan-weight must be 0 or more, got {self.gan_weight}")
        if self.gan_weight is not None and self.task in ("sr", "unpaired", ""):
            raise GanforgeError("option --gan-weight weighs pix2pix's GAN term (--task paired, edges2photo, "
                                "gray2color, inpaint or denoise); drop it")
        if self.conditional and self.labels == "none":
            raise GanforgeError("option --conditional needs the data's labels; drop --labels none")
        if self.eval_every < 0:
            raise GanforgeError(f"option --eval-every must be 0 (off) or more, got {self.eval_every}")
        if self.eval_n < 2:
            raise GanforgeError(f"option --eval-n must be at least 2, got {self.eval_n}")
        for name in ["lr_g", "lr_d", "cache_gb"]:
            value = getattr(self, name)
            if value is None:
                continue
            if not (math.isfinite(value) and value >= 0) or (name != "cache_gb" and value == 0):
                raise GanforgeError(f"option {_flag(name)} must be a positive number, got {value}")
        for name in ["r1", "r2", "gp", "instance_noise"]:
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise GanforgeError(f"option {_flag(name)} must be 0 or a positive number, got {value}")
        augment_probability(self.augment_p)  # raises on a value it cannot read
        if not 0.0 <= self.label_smoothing < 0.5:
            raise GanforgeError(f"option --label-smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.ema is not None and not 0.0 <= self.ema < 1.0:
            raise GanforgeError(f"option --ema must be in [0, 1) (0 = off; 0.999 is typical), got {self.ema}")
        for name in ["betas_g", "betas_d"]:
            betas = getattr(self, name)
            if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
                raise GanforgeError(f"option {_flag(name)} must be two numbers in [0, 1), got {list(betas)}")
        return self

    def to_json(self) -> dict[str, Any]:
        """A plain-JSON view of the configuration (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


@dataclass
class TrainConfig(_GeneralOptions):
    """Every option of `ganforge train`; field names match the CLI flags (`image_size` is `--image-size`).

    Besides the general options, one field `name: type | None = None` per option that a registered model family
    declares (None: the family's default). The registry tells this module of every `register` and `unregister`,
    and `_sync_model_fields` then regenerates this class's dataclass methods in place, so that a family registered
    after import (a plugin, a test) gets its fields in the one `TrainConfig` every module imported; configurations
    made before read a new option as None, i.e. not set.
    """


_GENERATED = ("__init__", "__repr__", "__eq__", "__match_args__", "__dataclass_fields__", "__annotations__")
_model_fields: tuple[str, ...] = ()


def _sync_model_fields() -> None:
    """Make TrainConfig's model fields those of the registry: one per declared option, none for withdrawn ones."""
    global _model_fields
    names = models.option_names()
    clash = sorted(set(names) & {spec.name for spec in fields(_GeneralOptions)})
    if clash:  # raised inside `register`, which then undoes the registration
        raise ValueError(f"model option {', '.join(clash)} has the name of a general option of `ganforge train`; "
                         "a model option needs a name of its own")
    # the dataclass machinery writes the methods for the new field list on a scratch class; they move onto
    # TrainConfig so that the class stays the object every module holds
    scratch = dataclasses.make_dataclass(
        "TrainConfig", [(name, models.option_type(name) | None, field(default=None)) for name in names],
        bases=(_GeneralOptions,), namespace={"__module__": __name__})
    for attribute in _GENERATED:
        setattr(TrainConfig, attribute, vars(scratch)[attribute])
    for name in set(_model_fields) - set(names):
        delattr(TrainConfig, name)
    for name in names:
        setattr(TrainConfig, name, None)  # the default, which instances made before the field existed read too
    _model_fields = names


models.on_change(_sync_model_fields)
_sync_model_fields()


AUGMENT_P_WORDS = ("auto", "ada", "off")


def augment_probability(value: str | float) -> str | float:
    """`--augment-p` read: "auto", "ada", "off", or a fixed probability in [0, 1] (0 is "off")."""
    if isinstance(value, str) and value in AUGMENT_P_WORDS:
        return value
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = math.nan
    if not 0.0 <= p <= 1.0:
        raise GanforgeError(f"option --augment-p must be auto, ada, off or a probability in [0, 1], got {value!r}")
    return "off" if p == 0 else p


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise GanforgeError(f"option {_flag(name)} must be one of {', '.join(allowed)}; got {value!r}")


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Convert a TOML/JSON/CLI value to the field's type, or fail naming the option."""
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if value is None:
        if type(None) in get_args(annotation):
            return None
        raise GanforgeError(f"option {_flag(name)} needs a value")
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise GanforgeError(f"option {_flag(name)} expects {len(args)} numbers, got {value!r}")
        return tuple(_coerce(name, v, a) for v, a in zip(value, args, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            raise GanforgeError(f"option {_flag(name)} expects a table, got {value!r}")
        return dict(value)
    target = args[0] if args else annotation
    if target is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise GanforgeError(f"option {_flag(name)} expects true or false, got {value!r}")
    if target is int:
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            raise GanforgeError(f"option {_flag(name)} expects a whole number, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise GanforgeError(f"option {_flag(name)} expects a whole number, got {value!r}") from None
        if not number.is_integer():
            raise GanforgeError(f"option {_flag(name)} expects a whole number, got {value!r}")
        return int(number)
    if target is float:
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise GanforgeError(f"option {_flag(name)} expects a number, got {value!r}") from None
    if name == "augment_p" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a fixed probability, given as a number
    if target is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise GanforgeError(f"option {_flag(name)} expects text, got {value!r}")
        return value
    return value


def build_config(values: dict[str, Any], base: TrainConfig | None = None, source: str = "options") -> TrainConfig:
    """Apply `values` (from TOML, JSON or the CLI) on top of `base`, rejecting unknown keys by name."""
    hints = get_type_hints(TrainConfig)
    known = {f.name for f in fields(TrainConfig)}
    normalised = {str(k).replace("-", "_"): v for k, v in values.items()}
    unknown = sorted(k for k in normalised if k not in known)
    if unknown:
        raise GanforgeError(
            f"unknown option{'s' if len(unknown) > 1 else ''} in {source}: {', '.join(unknown)} "
            f"(see `ganforge train --help` for the accepted ones)"
        )
    config = dataclasses.replace(base) if base is not None else TrainConfig()
    for key, value in normalised.items():
        setattr(config, key, _coerce(key, value, hints[key]))
    return config


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a `run.toml`; options may sit at the top level or under a [train] table."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"config file {path} does not exist")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise GanforgeError(f"config file {path} is not valid TOML: {error}") from None
    if set(data) == {"train"} and isinstance(data["train"], dict):
        data = data["train"]
    return data
