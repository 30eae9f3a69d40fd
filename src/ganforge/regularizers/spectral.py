"""Spectral normalisation (Miyato et al. 2018) of every convolution, linear layer and embedding of a discriminator."""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Divide each weight by its largest singular value (one power iteration per forward pass); weights that are
    normalised already are left as they are."""
    for child in list(module.modules()):
        # embeddings too: the projection discriminator's class embedding is normalised as in Miyato & Koyama 2018
        if isinstance(child, nn.Conv2d | nn.Linear | nn.ConvTranspose2d | nn.Embedding) \
                and not parametrize.is_parametrized(child, "weight"):  # a family may normalise its own
            spectral_norm(child)
    return module
