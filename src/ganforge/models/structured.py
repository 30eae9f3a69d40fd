"""Sequences with more than features: a generator wrapper for series of different lengths and per-series
attributes (`data.base.SeriesLayout`), around any sequence family.

As DoppelGANger does, the attributes come first, from noise of their own (`attributes`: numbers through tanh,
categories as a softmax mapped to ±1 channels), and the series network then makes the series from the rest of the
noise beside them, so sampling can fix some attributes and draw the series for them. With variable lengths the
series network makes one more channel, presence (+1 while the series lasts, −1 after); the features are multiplied
by (presence + 1) / 2, so a series is 0 after its end as the padded real data is, and the gradient reaches the
presence channel through the features too. The discriminator is the family's own, over every channel.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganforge.data.base import SeriesLayout

ATTRIBUTE_NOISE, ATTRIBUTE_WIDTH = 8, 128  # noise dimensions and hidden units of the attribute network


class StructuredSeriesGenerator(nn.Module):
    """z (N, latent_dim) → sequences (N, T, F + extra channels) in model space; `series` is a family's generator
    built for (T, F + presence) and noise of latent_dim − attribute noise + attribute channels."""

    def __init__(self, series: nn.Module, layout: SeriesLayout, features: int, latent_dim: int, steps: int):
        super().__init__()
        self.series, self.layout, self.features = series, layout, features
        self.latent_dim, self.sample_shape = latent_dim, (steps, features + layout.extra)
        self.attribute_noise = attribute_noise(layout, latent_dim)
        self.attributes = None
        if layout.statics:
            self.attributes = nn.Sequential(nn.Linear(self.attribute_noise, ATTRIBUTE_WIDTH), nn.ReLU(),
                                            nn.Linear(ATTRIBUTE_WIDTH, ATTRIBUTE_WIDTH), nn.ReLU(),
                                            nn.Linear(ATTRIBUTE_WIDTH, layout.static_width))

    def attribute_channels(self, z: Tensor) -> Tensor:
        """The attributes' model-space channels (N, static_width) from their share of the noise."""
        raw, parts, at = self.attributes(z[:, : self.attribute_noise]), [], 0
        for static in self.layout.statics:
            chunk = raw[:, at : at + static.width]
            parts.append(torch.tanh(chunk) if static.values is None else chunk.softmax(1) * 2.0 - 1.0)
            at += static.width
        return torch.cat(parts, 1)

    def forward(self, z: Tensor, statics: Tensor | None = None) -> Tensor:
        """Sequences from noise; `statics` (N, static_width) fixes the attributes where it is not NaN."""
        steps = self.sample_shape[0]
        if self.attributes is None:
            out = self.series(z)
            attributes = z.new_zeros(len(z), 0)
        else:
            attributes = self.attribute_channels(z)
            if statics is not None:
                given = statics.to(attributes)
                attributes = torch.where(given.isnan(), attributes, given)
            out = self.series(torch.cat([z[:, self.attribute_noise :], attributes], 1))
        values = out[..., : self.features]
        if self.layout.lengths:
            presence = out[..., self.features :]
            values = torch.cat([values * (presence + 1.0) / 2.0, presence], 2)
        return torch.cat([values, attributes[:, None, :].expand(-1, steps, -1)], 2)


def attribute_noise(layout: SeriesLayout, latent_dim: int) -> int:
    """How many of the noise's dimensions the attribute network takes (none without attributes)."""
    return min(ATTRIBUTE_NOISE, latent_dim // 2) if layout.statics else 0


def series_shape(layout: SeriesLayout, sample_shape: tuple[int, ...]) -> tuple[int, int]:
    """The shape the wrapped series network makes: the features, and presence with variable lengths."""
    steps, channels = sample_shape
    return steps, channels - layout.static_width
