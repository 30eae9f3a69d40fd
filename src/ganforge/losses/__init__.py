"""Adversarial losses, each a small object chosen by name. All work on discriminator logits, never probabilities,
so that log D and log(1 − D) stay finite (log σ(l) = −softplus(−l), log(1 − σ(l)) = −softplus(l)).

A later loss is one module with an `@register`ed class; the trainer only calls the two methods below.
"""

from __future__ import annotations

from torch import Tensor

from ganforge.errors import GanforgeError


class AdversarialLoss:
    """The two halves of a GAN objective."""

    name = ""
    description = ""
    #: whether `generator_loss` needs D's logits on real data (relativistic losses do)
    generator_needs_real = False
    #: whether σ(D(x)) is a probability of being real (false for critics and margins); the diagnosis relies on it
    probabilistic = True
    #: a regulariser this loss cannot go without (the WGAN gradient penalty)
    implied_penalty: str | None = None
    #: one-sided label smoothing: the target for real samples (1 = none); only for cross-entropy losses
    real_label = 1.0

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """What D minimises, from its logits on a real batch and on a generated batch."""
        raise NotImplementedError

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        """What G minimises, from D's logits on generated samples (and on real ones if it needs them)."""
        raise NotImplementedError


LOSSES: dict[str, type[AdversarialLoss]] = {}


def register(cls: type[AdversarialLoss]) -> type[AdversarialLoss]:
    """Class decorator adding a loss to the registry under its `name`."""
    LOSSES[cls.name] = cls
    return cls


def get_loss(name: str) -> AdversarialLoss:
    """An instance of the loss called `name`, or a one-line error listing the known ones."""
    if name not in LOSSES:
        raise GanforgeError(f"unknown loss {name!r}; expected one of {', '.join(sorted(LOSSES))}")
    return LOSSES[name]()


# The built-in losses register themselves on import.
from ganforge.losses import hinge, least_squares, relativistic, standard, wasserstein  # noqa: E402, F401
