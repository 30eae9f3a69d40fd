"""Fully connected networks for vector data (2-D toy sets, feature arrays); they also accept small images."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError
from ganforge.models import ModelOption, register
from ganforge.models.layers import MinibatchStd

ACTIVATIONS = {"relu": lambda: nn.ReLU(True), "leaky_relu": lambda: nn.LeakyReLU(0.2, True)}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise GanforgeError(f"option --activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
    return ACTIVATIONS[name]()


class MLPGenerator(nn.Module):
    """Noise (N, latent_dim) → samples of `sample_shape`; images end in tanh, vectors are unbounded."""

    def __init__(self, latent_dim: int, sample_shape: tuple[int, ...], width: int, depth: int,
                 batch_norm: bool, activation: str, bounded: bool):
        super().__init__()
        self.latent_dim, self.sample_shape = latent_dim, sample_shape
        layers: list[nn.Module] = []
        inner = latent_dim
        for _ in range(depth):
            layers.append(nn.Linear(inner, width, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(_activation(activation))
            inner = width
        layers.append(nn.Linear(inner, math.prod(sample_shape)))
        if bounded:
            layers.append(nn.Tanh())
        self.layers = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.layers(z).view(-1, *self.sample_shape)


class MLPDiscriminator(nn.Module):
    """Samples → one logit per sample."""

    def __init__(self, sample_shape: tuple[int, ...], width: int, depth: int, activation: str,
                 minibatch_std: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        inner = math.prod(sample_shape)
        for _ in range(depth):
            layers += [nn.Linear(inner, width), _activation(activation)]
            inner = width
        if minibatch_std:
            layers.append(MinibatchStd())
        layers.append(nn.Linear(inner + int(minibatch_std), 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x.flatten(1)).flatten()

    def features(self, x: Tensor) -> Tensor:
        """φ(x): the last hidden layer (for conditional discriminators)."""
        return self.layers[:-1](x.flatten(1))

    def head(self, features: Tensor) -> Tensor:
        """ψ: the output layer, one logit per sample."""
        return self.layers[-1](features).flatten()

    def probability(self, x: Tensor) -> Tensor:
        """D(x): the probability that x is real."""
        return torch.sigmoid(self(x))


@register("mlp", "fully connected networks for vectors, small images and short series", ("vector", "image", "sequence"),
          # measured on `ring`: 3,000 steps put 87 % of samples within 3σ of a mode and cover all 8 modes,
          # where the DCGAN settings (2e-4, batch 64) put none there
          training={"lr_g": 1e-3, "lr_d": 1e-3, "batch_size": 256},
          options=(ModelOption("latent_dim", int, 32, "size of the noise vector z"),
                   ModelOption("g_width", int, 256, "generator width: hidden units"),
                   ModelOption("d_width", int, 256, "discriminator width: hidden units"),
                   ModelOption("depth", int, 3, "hidden layers of each network"),
                   ModelOption("batch_norm", bool, False, "batch normalisation in the generator"),
                   ModelOption("activation", str, None, "activation for both networks: relu or leaky_relu (unset: "
                               "relu in G, leaky_relu in D)", choices=tuple(ACTIVATIONS)),
                   ModelOption("minibatch_std", bool, False,
                               "minibatch standard-deviation feature in the discriminator")))
def build_mlp(sample_shape: tuple[int, ...], latent_dim: int, g_width: int, d_width: int, depth: int,
              batch_norm: bool, activation: str | None, minibatch_std: bool,
              d_channels: int | None = None) -> tuple[nn.Module, nn.Module]:
    """An MLP pair: G uses ReLU and D LeakyReLU(0.2) unless `activation` sets both."""
    images = len(sample_shape) == 3
    generator = MLPGenerator(latent_dim, sample_shape, g_width, depth, batch_norm, activation or "relu", images)
    d_shape = (d_channels, *sample_shape[1:]) if d_channels else sample_shape
    discriminator = MLPDiscriminator(d_shape, d_width, depth, activation or "leaky_relu", minibatch_std)
    return generator, discriminator
