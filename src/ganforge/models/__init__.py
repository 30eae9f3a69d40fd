"""Model families, chosen by name and sized from the data's shape.

A family is one module that registers itself with `@register`; it builds a (generator, discriminator) pair and
declares its options (`ModelOption`: name, type, default, help) there, once. `TrainConfig`'s fields, the help of
`ganforge train` and the table of families in docs/images.md are read from these declarations, so a new family is
its file plus one line in the import at the end of this module.
The discriminator returns one logit per sample; losses work on logits and `probability` exposes D(x).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError

OPTION_TYPES = (int, float, bool, str)  # what a flag, a TOML key and config.json can all carry


@dataclass(frozen=True)
class ModelOption:
    """One option of a model family: `--name` on the command line, `name` in TOML, `ganforge.train(name=...)`.

    `default` is this family's value when the user sets none (None: the builder decides, and `help` should say
    how). `help` says what it does in this family; families that share an option but differ in detail write it as
    "topic: detail" with the same topic ("generator width: base channels"), and the help shows the topic once.
    Whole-number options must be at least 1 (they are counts and sizes); `choices`, if given, are the accepted values.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"model option name {self.name!r} is not a Python identifier (it becomes a config field)")
        if self.type not in OPTION_TYPES:
            raise TypeError(f"model option {self.name!r} has type {self.type!r}; expected one of "
                            f"{', '.join(t.__name__ for t in OPTION_TYPES)}")
        for value in (self.default, *self.choices):
            if value is not None and not _is_a(value, self.type):
                raise TypeError(f"model option {self.name!r} is declared {self.type.__name__} but has the value "
                                f"{value!r}")
        if self.choices and self.default is not None and self.default not in self.choices:
            raise ValueError(f"model option {self.name!r} defaults to {self.default!r}, not one of its choices")


def _is_a(value: Any, kind: type) -> bool:
    """isinstance, except that True is not a whole number here (nor 3 a truth value)."""
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


@dataclass(frozen=True)
class ModelFamily:
    """How to build one architecture: its options, the data kinds it accepts, and a builder."""

    name: str
    description: str
    kinds: tuple[str, ...]
    options: tuple[ModelOption, ...]
    build: Callable[..., tuple[nn.Module, nn.Module]]
    training: dict[str, Any]

    @property
    def defaults(self) -> dict[str, Any]:
        """The builder's options with this family's defaults, by name."""
        return {option.name: option.default for option in self.options}


MODELS: dict[str, ModelFamily] = {}
_LISTENERS: list[Callable[[], None]] = []


def register(name: str, description: str, kinds: tuple[str, ...], training: dict[str, Any],
             options: Sequence[ModelOption] = ()) -> Callable:
    """Decorator: add a builder `fn(sample_shape, **options) -> (G, D)` to the registry.

    `options` are the builder's options, declared once here; an option that another family also declares must have
    the same type there, and every family declares `latent_dim` (the trainer draws noise of that size). `training`
    holds the optimisation defaults (learning rate, batch size) that work for this family when the user sets none.
    """
    options = tuple(options)
    names = [option.name for option in options]
    if len(set(names)) < len(names):
        raise ValueError(f"model {name} declares an option twice: {', '.join(names)}")
    if "latent_dim" not in names:
        raise ValueError(f"model {name} must declare the option latent_dim (the size of the noise its generator takes)")
    for option in options:
        for other in MODELS.values():
            theirs = next((o for o in other.options if o.name == option.name), None)
            if other.name != name and theirs is not None and theirs.type is not option.type:
                raise TypeError(f"model {name} declares option {option.name!r} as {option.type.__name__}, but model "
                                f"{other.name} declares it as {theirs.type.__name__}; one option has one type")

    def wrap(build: Callable[..., tuple[nn.Module, nn.Module]]) -> Callable:
        previous = MODELS.get(name)
        MODELS[name] = ModelFamily(name, description, kinds, options, build, training)
        try:
            _notify()
        except Exception:  # a listener refused the family (an option named like a general one): leave no trace
            if previous is None:
                del MODELS[name]
            else:
                MODELS[name] = previous
            raise
        return build

    return wrap


def unregister(name: str) -> None:
    """Remove a family (tests, plugins withdrawing one); options no other family declares leave TrainConfig."""
    if MODELS.pop(name, None) is not None:
        _notify()


def on_change(listener: Callable[[], None]) -> None:
    """Call `listener()` after every `register` and `unregister`; `ganforge.config` keeps TrainConfig's fields in
    step with the registry this way. A listener that raises during `register` undoes the registration."""
    _LISTENERS.append(listener)


def _notify() -> None:
    for listener in _LISTENERS:
        listener()


def declarations() -> dict[str, dict[str, ModelOption]]:
    """Every registered option by name, each with its declaration by family (in registration order)."""
    found: dict[str, dict[str, ModelOption]] = {}
    for family in MODELS.values():
        for option in family.options:
            found.setdefault(option.name, {})[family.name] = option
    return found


def option_names() -> tuple[str, ...]:
    """The names of all registered model options: the model fields of TrainConfig."""
    return tuple(declarations())


def option_type(name: str) -> type:
    """The type of a registered model option (the same in every family that declares it)."""
    return next(iter(declarations()[name].values())).type


def _shown(value: Any) -> str:
    """A default as the help and the README show it: booleans as on/off."""
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def option_help(name: str, defaults: bool = True) -> str:
    """The help of one model option, from its declarations in every family that has it.

    One meaning is said once ("size of the noise vector z (default: dcgan 100, mlp 32)"); a shared "topic: detail"
    keeps the topic once ("generator width: dcgan: base channels (default 64); mlp: hidden units (default 256)");
    otherwise each family says its own. Without `defaults` (the README table, whose columns carry the families and
    their defaults) a single family's help is given alone.
    """
    declared = declarations()[name]

    def default(option: ModelOption) -> str:
        return f" (default {_shown(option.default)})" if defaults and option.default is not None else ""

    helps = {option.help for option in declared.values()}
    if len(helps) == 1 and (len(declared) > 1 or not defaults):
        text = helps.pop()
        values = {o.default for o in declared.values()}
        if defaults and len(values) == 1 and None not in values and len(declared) == len(MODELS):
            return f"{text} (default {_shown(values.pop())})"  # every family, one default: no need to name them
        given = [f"{family} {_shown(o.default)}" for family, o in declared.items() if o.default is not None]
        return f"{text} (default: {', '.join(given)})" if defaults and given else text
    topics = {option.help.partition(": ")[0] for option in declared.values()}
    if len(declared) > 1 and len(topics) == 1 and all(": " in option.help for option in declared.values()):
        return f"{topics.pop()}: " + "; ".join(f"{family}: {o.help.partition(': ')[2]}{default(o)}"
                                              for family, o in declared.items())
    return "; ".join(f"{family}: {o.help}{default(o)}" for family, o in declared.items())


README_MARKERS = ("<!-- models:start -->", "<!-- models:end -->")  # around options_table() in docs/images.md


def options_table() -> str:
    """The tables of model families and their options (markdown), rendered from the registry; written
    between `README_MARKERS` by `python -m ganforge.models --readme`."""
    families = list(MODELS.values())
    lines = ["| family | data | what it is |", "|---|---|---|"]
    lines += [f"| `{f.name}` | {', '.join(f.kinds)} | {f.description} |" for f in families]
    lines += ["", "| option | " + " | ".join(f.name for f in families) + " | what it sets |",
              "|---|" + "---|" * len(families) + "---|"]
    for name, declared in declarations().items():
        flag = "--" + name.replace("_", "-")
        cells = [_shown(declared[f.name].default) if f.name in declared and declared[f.name].default is not None
                 else "unset" if f.name in declared else "—" for f in families]
        lines.append(f"| `{flag}` | " + " | ".join(cells) + f" | {option_help(name, defaults=False)} |")
    return "\n".join(lines) + "\n"


PHOTO_MIN_SIZE = 64  # `--model auto` picks fastgan for image folders at this size or more


def default_model(kind: str, photos: int | None = None) -> str:
    """The family used when `--model auto`: fastgan for folders of photos (`photos`: their size in pixels) of 64
    pixels or more, where it beat dcgan at equal time (bench/photos.py); dcgan for other images; mlp for vectors;
    sequence for time series."""
    if kind == "sequence":
        return "sequence"
    if kind != "image":
        return "mlp"
    return "fastgan" if photos is not None and photos >= PHOTO_MIN_SIZE else "dcgan"


def resolve_options(name: str, kind: str, given: dict[str, Any]) -> dict[str, Any]:
    """The family's defaults overlaid with the options the user set (None means 'not set')."""
    if name not in MODELS:
        raise GanforgeError(f"unknown model {name!r}; expected one of {', '.join(sorted(MODELS))}")
    family = MODELS[name]
    if kind not in family.kinds:
        hint = default_model(kind)
        raise GanforgeError(f"model {name} does not handle {kind} data; use --model {hint}")
    foreign = sorted(k for k, v in given.items() if v is not None and k not in family.defaults)
    if foreign:
        flags = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise GanforgeError(f"option {flags} does not apply to model {name}; it takes "
                            f"{', '.join('--' + k.replace('_', '-') for k in family.defaults)}")
    options = dict(family.defaults)
    options.update({k: v for k, v in given.items() if v is not None})
    for option in family.options:
        if option.choices and options[option.name] is not None and options[option.name] not in option.choices:
            raise GanforgeError(f"option --{option.name.replace('_', '-')} must be one of "
                                f"{', '.join(map(str, option.choices))}; got {options[option.name]!r}")
    return options


def build_models(name: str, sample_shape: tuple[int, ...], options: dict[str, Any], pack: int = 1,
                 spectral_norm: bool = False, classes: int = 0, cond: str = "cbn-proj",
                 layout: Any = None) -> tuple[nn.Module, nn.Module]:
    """Build (generator, discriminator) for samples of `sample_shape` with resolved `options`.

    `pack` > 1 makes the discriminator judge packs of that many samples (PacGAN); `spectral_norm` normalises
    every weight of the discriminator. `classes` > 0 builds a class-conditional pair by the method `cond`
    (see `models.conditional`): G(z, y) and D(x, y) → (logits, class logits or None). A sequence `layout`
    (`data.base.SeriesLayout`: variable lengths, attributes) wraps the family's generator (`models.structured`).
    """
    sample_shape = tuple(sample_shape)
    if layout is not None:
        if classes or pack > 1:
            raise GanforgeError("options --pack and class-conditional training do not apply to series with "
                                "attributes or of different lengths yet")
        from ganforge.models.structured import StructuredSeriesGenerator, attribute_noise, series_shape

        _, discriminator = MODELS[name].build(sample_shape, **options)
        inner = options["latent_dim"] - attribute_noise(layout, options["latent_dim"]) + layout.static_width
        series, _ = MODELS[name].build(series_shape(layout, sample_shape), **{**options, "latent_dim": inner})
        generator = StructuredSeriesGenerator(series, layout, sample_shape[-1] - layout.extra,
                                              options["latent_dim"], sample_shape[0])
    elif classes:
        generator, discriminator = _conditional_pair(name, sample_shape, options, pack, classes, cond)
    elif pack == 1:
        generator, discriminator = MODELS[name].build(sample_shape, **options)
    else:
        from ganforge.models.layers import Packed

        generator, inner = MODELS[name].build(sample_shape, **options, d_channels=sample_shape[0] * pack)
        discriminator = Packed(inner, pack)
    if spectral_norm:
        from ganforge.regularizers.spectral import apply_spectral_norm

        apply_spectral_norm(discriminator)
    return generator, discriminator


def _conditional_pair(name: str, sample_shape: tuple[int, ...], options: dict[str, Any], pack: int, classes: int,
                      cond: str) -> tuple[nn.Module, nn.Module]:
    from ganforge.models import conditional as c

    if cond not in c.COND_METHODS:
        raise GanforgeError(f"option --cond must be one of {', '.join(c.COND_METHODS)}; got {cond!r}")
    build = MODELS[name].build
    generator, _ = build(sample_shape, **options)
    embed = c.generator_embedding_dim(cond, classes, c.has_batch_norm(generator))
    label_channels = min(classes, c.D_EMBED_MAX) if cond == "concat" else 0
    d_channels = (sample_shape[0] + label_channels) * pack
    if embed:  # the embedding enters beside z: the family builds its generator for the wider input
        generator, inner = build(sample_shape, **{**options, "latent_dim": options["latent_dim"] + embed},
                                 d_channels=d_channels)
    else:
        _, inner = build(sample_shape, **options, d_channels=d_channels)
    return (c.ConditionalGenerator(generator, classes, cond, embed),
            c.ConditionalDiscriminator(inner, classes, cond, sample_shape, pack))


def resolve_model(config: Any, kind: str, classes: int = 0, photos: int | None = None) -> tuple[str, dict[str, Any]]:
    """The model family of a `TrainConfig` and its full options for this data kind (defaults filled in); `photos`:
    the image size when the data is a folder of images (for `--model auto`).

    Fills the configuration's unset optimisation options (learning rates, batch size, fixed samples) with the
    family's defaults, so `config.json` records the values actually used.
    """
    from ganforge.models.conditional import GRID_CLASSES, GRID_COLUMNS

    name = default_model(kind, photos) if config.model == "auto" else config.model
    options = resolve_options(name, kind, {k: getattr(config, k) for k in option_names()})
    for key, value in MODELS[name].training.items():
        if getattr(config, key) is None:
            setattr(config, key, value)
    if config.ema is None:
        config.ema = 0.0
    if config.n_fixed_samples is None:
        config.n_fixed_samples = 64 if kind == "image" else 1000
        if config.conditional and kind == "image":
            config.n_fixed_samples = GRID_COLUMNS * min(classes, GRID_CLASSES)
    config.model = name
    return name, options


def sample_latent(kind: str, n: int, dim: int, generator: torch.Generator | None = None) -> Tensor:
    """Noise for the generator: standard normal, or uniform on [-1, 1]. Drawn on the CPU so that a seed gives the
    same noise on every device."""
    if kind == "uniform":
        return torch.rand(n, dim, generator=generator) * 2.0 - 1.0
    return torch.randn(n, dim, generator=generator)


# Families register themselves on import.
from ganforge.models import dcgan, fastgan, mlp, sequence  # noqa: E402, F401
