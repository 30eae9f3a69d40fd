"""Model families, chosen by name and sized from the data's shape.

A family is one module that registers itself with `@register`; it builds a (generator, discriminator) pair.
The discriminator returns one logit per sample; losses work on logits and `probability` exposes D(x).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError


@dataclass(frozen=True)
class ModelFamily:
    """How to build one architecture: its defaults, the data kinds it accepts, and a builder."""

    name: str
    description: str
    kinds: tuple[str, ...]
    defaults: dict[str, Any]
    build: Callable[..., tuple[nn.Module, nn.Module]]
    training: dict[str, Any]


MODELS: dict[str, ModelFamily] = {}


def register(name: str, description: str, kinds: tuple[str, ...], training: dict[str, Any],
             **defaults: Any) -> Callable:
    """Decorator: add a builder `fn(sample_shape, **options) -> (G, D)` to the registry.

    `defaults` are the builder's options; `training` holds the optimisation defaults (learning rate, batch size)
    that work for this family when the user sets none.
    """

    def wrap(build: Callable[..., tuple[nn.Module, nn.Module]]) -> Callable:
        MODELS[name] = ModelFamily(name, description, kinds, defaults, build, training)
        return build

    return wrap


def default_model(kind: str) -> str:
    """The family used when `--model auto`: dcgan for images, mlp for vectors."""
    return "dcgan" if kind == "image" else "mlp"


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
    return options


def build_models(name: str, sample_shape: tuple[int, ...], options: dict[str, Any], pack: int = 1,
                 spectral_norm: bool = False, classes: int = 0, cond: str = "cbn-proj") -> tuple[nn.Module, nn.Module]:
    """Build (generator, discriminator) for samples of `sample_shape` with resolved `options`.

    `pack` > 1 makes the discriminator judge packs of that many samples (PacGAN); `spectral_norm` normalises
    every weight of the discriminator. `classes` > 0 builds a class-conditional pair by the method `cond`
    (see `models.conditional`): G(z, y) and D(x, y) → (logits, class logits or None).
    """
    sample_shape = tuple(sample_shape)
    if classes:
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


def sample_latent(kind: str, n: int, dim: int, generator: torch.Generator | None = None) -> Tensor:
    """Noise for the generator: standard normal, or uniform on [-1, 1]. Drawn on the CPU so that a seed gives the
    same noise on every device."""
    if kind == "uniform":
        return torch.rand(n, dim, generator=generator) * 2.0 - 1.0
    return torch.randn(n, dim, generator=generator)


# Families register themselves on import.
from ganforge.models import dcgan, mlp  # noqa: E402, F401
