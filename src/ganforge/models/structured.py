"""Sequences with more than features: a generator wrapper for series of different lengths and per-series
attributes (`data.base.SeriesLayout`), around any sequence family.

As DoppelGANger does, the attributes come first and the series network then makes the series from the rest of the
noise beside them, so sampling can fix some attributes and draw the series for them. Categories are drawn from the
shares their combinations have in the data, by one noise dimension through the normal CDF (as a conditional GAN
draws its labels): a GAN left to make them itself drops rare values (on a toy set of three wards, one was never
generated). Numbers come from an attribute network (noise of their own and the categories, through tanh). With
variable lengths the series network makes one more channel, presence (+1 while the series lasts, −1 after); the
features are multiplied by (presence + 1) / 2, so a series is 0 after its end as the padded real data is, and the
gradient reaches the presence channel through the features too. The discriminator is the family's own, over every
channel.
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
        self.category_columns, self.number_columns, at = [], [], 0  # where each kind sits among the attribute channels
        for static in layout.statics:
            (self.category_columns if static.values is not None else self.number_columns).extend(
                range(at, at + static.width))
            at += static.width
        self.attributes = None
        if self.number_columns:
            self.attributes = nn.Sequential(
                nn.Linear(self.attribute_noise + len(self.category_columns), ATTRIBUTE_WIDTH), nn.ReLU(),
                nn.Linear(ATTRIBUTE_WIDTH, ATTRIBUTE_WIDTH), nn.ReLU(),
                nn.Linear(ATTRIBUTE_WIDTH, len(self.number_columns)))
        combos = [codes for codes, _ in layout.shares]
        self.register_buffer("combos", torch.tensor(combos, dtype=torch.long).reshape(len(combos), -1),
                             persistent=False)
        self.register_buffer("shares", torch.tensor([share for _, share in layout.shares]), persistent=False)

    def draw_categories(self, z: Tensor, given: Tensor | None) -> Tensor:
        """Category channels (N, category width): each row a combination drawn from the data's shares by the first
        attribute noise dimension, among the combinations that agree with the categories `given` (their channels,
        NaN where not fixed); where none agrees, from all of them."""
        if not self.category_columns:
            return z.new_zeros(len(z), 0)
        weights = self.shares.to(z.dtype).expand(len(z), -1)
        if given is not None:
            agree, at = torch.ones_like(weights, dtype=torch.bool), 0
            for j, static in enumerate(self.layout.categorical):
                chunk = given[:, at : at + static.width]
                fixed = ~chunk.isnan().any(1)
                agree &= ~fixed[:, None] | (self.combos[None, :, j] == chunk.nan_to_num(-1.0).argmax(1)[:, None])
                at += static.width
            kept = weights * agree
            weights = torch.where(kept.sum(1, keepdim=True) > 0, kept, weights)
        cumulative = weights.cumsum(1) / weights.sum(1, keepdim=True)
        uniform = torch.special.ndtr(z[:, :1].float()).to(z.dtype)
        picked = (cumulative < uniform).sum(1).clamp_max(len(self.shares) - 1)
        codes = self.combos[picked]
        parts = [nn.functional.one_hot(codes[:, j], c.width).to(z.dtype) * 2.0 - 1.0
                 for j, c in enumerate(self.layout.categorical)]
        return torch.cat(parts, 1) if parts else z.new_zeros(len(z), 0)

    def attribute_channels(self, z: Tensor, given: Tensor | None = None) -> Tensor:
        """The attributes' model-space channels (N, static_width) from their share of the noise; `given`
        (N, static_width) fixes them where it is not NaN (the numbers are made knowing the categories)."""
        noise, found = z[:, : self.attribute_noise], z.new_empty(len(z), self.layout.static_width)
        fixed = None if given is None else given[:, self.category_columns]
        categories = self.draw_categories(noise, fixed)
        if fixed is not None:
            categories = torch.where(fixed.isnan(), categories, fixed)
        found[:, self.category_columns] = categories
        if self.attributes is not None:
            found[:, self.number_columns] = torch.tanh(self.attributes(torch.cat([noise, categories], 1)))
        return found if given is None else torch.where(given.isnan(), found, given)

    def forward(self, z: Tensor, statics: Tensor | None = None) -> Tensor:
        """Sequences from noise; `statics` (N, static_width) fixes the attributes where it is not NaN."""
        steps = self.sample_shape[0]
        if not self.layout.statics:
            out = self.series(z)
            attributes = z.new_zeros(len(z), 0)
        else:
            attributes = self.attribute_channels(z, None if statics is None else statics.to(z))
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
