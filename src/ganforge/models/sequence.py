"""Networks for time series (N, T, F), in the shared loop's SampleTask.

`cell` dense (the default): fully connected networks over the whole window — G maps z to all T×F numbers and ends
in tanh, D reads the flattened window and ends with a minibatch standard-deviation feature. `cell` gru or conv: the
generator projects the noise z to a (T, width) sequence (as DCGAN projects z to a spatial map), runs it through
`depth` GRU layers (or temporal convolutions) and maps each step to the F features with tanh (model space is each
feature min-max scaled to [-1, 1]). The discriminator reads the sequence with the same kind of layers and gives one
logit from the mean over steps and the last step, so that it sees both the shape of a whole window and its end.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError
from ganforge.models import ModelOption, register
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator

CELLS = ("dense", "gru", "conv")


class _TemporalConv(nn.Module):
    """`depth` residual 1-D convolutions over time (kernel 5, same length), channels last in and out."""

    def __init__(self, width: int, depth: int, activation: nn.Module):
        super().__init__()
        self.layers = nn.ModuleList(nn.Conv1d(width, width, 5, padding=2) for _ in range(depth))
        self.activation = activation

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        h = x.transpose(1, 2)
        for layer in self.layers:
            h = h + self.activation(layer(h))
        return h.transpose(1, 2), None


def _body(cell: str, inputs: int, width: int, depth: int, activation: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(input map, sequence layers) for `cell`."""
    if cell == "gru":
        return nn.Linear(inputs, width), nn.GRU(width, width, depth, batch_first=True)
    return nn.Linear(inputs, width), _TemporalConv(width, depth, activation)


class SequenceGenerator(nn.Module):
    """z (N, latent_dim) → sequences (N, T, F) in [-1, 1]."""

    def __init__(self, latent_dim: int, sample_shape: tuple[int, ...], width: int, depth: int, cell: str):
        super().__init__()
        self.latent_dim, self.sample_shape = latent_dim, tuple(sample_shape)
        steps, features = self.sample_shape
        self.project = nn.Linear(latent_dim, steps * width)
        self.width = width
        self.inner, self.layers = _body(cell, width, width, depth, nn.ReLU())
        self.out = nn.Linear(width, features)

    def forward(self, z: Tensor) -> Tensor:
        steps = self.sample_shape[0]
        h = torch.relu(self.project(z)).view(len(z), steps, self.width)
        h, _ = self.layers(self.inner(h))
        return torch.tanh(self.out(h))


class SequenceDiscriminator(nn.Module):
    """Sequences (N, T, F) → one logit each."""

    def __init__(self, sample_shape: tuple[int, ...], width: int, depth: int, cell: str):
        super().__init__()
        features = sample_shape[-1]
        self.inner, self.layers = _body(cell, features, width, depth, nn.LeakyReLU(0.2))
        self.out = nn.Linear(2 * width, 1)

    def features(self, x: Tensor) -> Tensor:
        """φ(x): the mean over steps beside the last step of the sequence layers' output."""
        h, _ = self.layers(nn.functional.leaky_relu(self.inner(x), 0.2))
        return torch.cat([h.mean(1), h[:, -1]], 1)

    def head(self, features: Tensor) -> Tensor:
        """ψ: one logit per sample."""
        return self.out(features).flatten()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def probability(self, x: Tensor) -> Tensor:
        """D(x): the probability that x is real."""
        return torch.sigmoid(self(x))


# Chosen by measurement (bench/timeseries.py; sines, 4,000 steps, seed 0, 2 cores of an AMD EPYC): the dense pair
# reached a discriminative score of 0.013 in 112 s, where GRU layers reached 0.25 in 479 s and temporal convolutions
# 0.21 in 118 s at the same settings.
@register("sequence", "networks for time series: a dense pair over the whole window (default), GRU layers, or "
          "temporal convolutions", ("sequence",),
          training={"lr_g": 1e-3, "lr_d": 1e-3, "batch_size": 256, "ema": 0.999},
          options=(ModelOption("latent_dim", int, 32, "size of the noise vector z"),
                   ModelOption("g_width", int, 256, "generator width: hidden units (per step for gru and conv)"),
                   ModelOption("d_width", int, 256, "discriminator width: hidden units (per step for gru and conv)"),
                   ModelOption("depth", int, 3, "hidden layers of each network"),
                   ModelOption("cell", str, "dense", "layers of both networks: dense (the whole window at once, "
                               "minibatch std in D), gru, or conv (residual temporal convolutions)", choices=CELLS)))
def build_sequence(sample_shape: tuple[int, ...], latent_dim: int, g_width: int, d_width: int, depth: int,
                   cell: str, d_channels: int | None = None) -> tuple[nn.Module, nn.Module]:
    """A (generator, discriminator) pair for sequences of `sample_shape` (T, F)."""
    if d_channels is not None:  # packs and class labels widen an image's channels; a series has none yet
        raise GanforgeError("options --pack and class-conditional training do not apply to sequence models yet")
    if cell == "dense":  # the whole window at once: G ends in tanh (model space is [-1, 1]), D sees its spread
        generator = MLPGenerator(latent_dim, tuple(sample_shape), g_width, depth, False, "relu", bounded=True)
        return generator, MLPDiscriminator(tuple(sample_shape), d_width, depth, "leaky_relu", minibatch_std=True)
    generator = SequenceGenerator(latent_dim, sample_shape, g_width, depth, cell)
    return generator, SequenceDiscriminator(sample_shape, d_width, depth, cell)
