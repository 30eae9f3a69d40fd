"""The networks of the conditional tabular GAN, and the sampler that conditions training.

Generator: noise + conditional vector → residual fully connected blocks (each block's output is concatenated to its
input, as in CTGAN) → one number per encoded column position; offsets go through tanh, one-hot groups through a
Gumbel-softmax so the discriminator sees differentiable, nearly one-hot groups.
Discriminator: packs of `pac` rows (PacGAN) with their conditional vectors → LeakyReLU + dropout layers → one score.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganforge.tabular.transform import Span


class _Residual(nn.Module):
    def __init__(self, inputs: int, outputs: int):
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(inputs, outputs), nn.BatchNorm1d(outputs), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.layer(x), x], 1)


class TableGenerator(nn.Module):
    """Noise and conditional vector → an encoded row (activations applied by `activate`)."""

    def __init__(self, latent_dim: int, condition_width: int, hidden: tuple[int, ...], width: int):
        super().__init__()
        layers: list[nn.Module] = []
        inner = latent_dim + condition_width
        for size in hidden:
            layers.append(_Residual(inner, size))
            inner += size
        layers.append(nn.Linear(inner, width))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


def activate(raw: Tensor, spans: list[Span], tau: float, sample_with: torch.Generator | None = None) -> Tensor:
    """tanh on offsets; Gumbel-softmax (temperature `tau`) on one-hot groups.

    With `sample_with` (a generator, when producing rows) each group is one category drawn from its softmax
    (the Gumbel-max trick): taking the most likely category instead would over-produce every column's
    commonest value.
    """
    parts, start = [], 0
    for span in spans:
        piece = raw[:, start : start + span.width]
        if span.activation == "tanh":
            parts.append(torch.tanh(piece))
        elif sample_with is not None:
            uniform = torch.rand(piece.shape, generator=sample_with).clamp_(1e-20, 1.0)
            drawn = (piece.float() - torch.log(-torch.log(uniform))).argmax(1)
            parts.append(nn.functional.one_hot(drawn, span.width).to(raw.dtype))
        else:
            parts.append(nn.functional.gumbel_softmax(piece, tau=tau))
        start += span.width
    return torch.cat(parts, 1)


class _Dropout(nn.Module):
    """Dropout from a uniform mask: the same function as `nn.Dropout`, 3× faster on CPU (measured 0.09 vs 0.28 ms on a
    50×256 batch), where Bernoulli sampling is slow and the critic applies dropout six times a step."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        return x * (torch.rand_like(x) >= self.p) * (1.0 / (1.0 - self.p))


class TableDiscriminator(nn.Module):
    """Scores packs of `pac` rows (each with its conditional vector): one logit per pack."""

    def __init__(self, row_width: int, hidden: tuple[int, ...], pac: int):
        super().__init__()
        self.pac = pac
        layers: list[nn.Module] = []
        inner = row_width * pac
        for size in hidden:
            layers += [nn.Linear(inner, size), nn.LeakyReLU(0.2), _Dropout(0.5)]
            inner = size
        layers.append(nn.Linear(inner, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, rows: Tensor) -> Tensor:
        return self.net(rows.reshape(rows.shape[0] // self.pac, -1)).squeeze(1)


class ConditionSampler:
    """Training-by-sampling (CTGAN): pick a categorical column uniformly, one of its categories with probability
    proportional to the log of its frequency (so rare categories are learnt), then a real row that has it.

    Rows are found through one stable sort per column, so no per-category lists are held.
    """

    def __init__(self, codes: Tensor | None, spans: list[Span]):
        self.spans = spans
        self.width = sum(span.width for span in spans)
        self.starts = torch.tensor([0, *torch.tensor([s.width for s in spans]).cumsum(0).tolist()[:-1]])
        self.order, self.first, self.count, self.log_weights, self.frequency = [], [], [], [], []
        for span in spans if codes is not None else []:
            column = codes[:, span.slot]
            counts = torch.bincount(column, minlength=span.width)
            self.order.append(torch.argsort(column, stable=True))
            self.first.append(torch.cumsum(counts, 0) - counts)
            self.count.append(counts)
            self.log_weights.append(torch.log1p(counts.double()))
            self.frequency.append(counts.double() / counts.sum())

    @classmethod
    def from_frequencies(cls, spans: list[Span], frequencies: list[Tensor]) -> ConditionSampler:
        """A sampler for generating only (a loaded model): category frequencies, no training rows."""
        sampler = cls(None, spans)
        sampler.frequency = [f.double() for f in frequencies]
        return sampler

    def training_batch(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Conditional vectors, the chosen column of each, its category, and matching real row indices."""
        column = torch.randint(len(self.spans), (n,), generator=generator)
        category = torch.empty(n, dtype=torch.long)
        rows = torch.empty(n, dtype=torch.long)
        for j in range(len(self.spans)):
            chosen = (column == j).nonzero().squeeze(1)
            if not len(chosen):
                continue
            cats = torch.multinomial(self.log_weights[j], len(chosen), replacement=True, generator=generator)
            offset = (torch.rand(len(chosen), generator=generator, dtype=torch.float64) * self.count[j][cats]).long()
            category[chosen] = cats
            rows[chosen] = self.order[j][self.first[j][cats] + offset]
        return self.vectors(column, category), column, category, rows

    def frequency_batch(self, n: int, generator: torch.Generator) -> Tensor:
        """Conditional vectors for plain sampling: a column uniformly, a category by its real frequency."""
        column = torch.randint(len(self.spans), (n,), generator=generator)
        category = torch.empty(n, dtype=torch.long)
        for j in range(len(self.spans)):
            chosen = (column == j).nonzero().squeeze(1)
            if len(chosen):
                category[chosen] = torch.multinomial(self.frequency[j], len(chosen), replacement=True,
                                                     generator=generator)
        return self.vectors(column, category)

    def vectors(self, column: Tensor, category: Tensor) -> Tensor:
        """One-hot conditional vectors for (column, category) pairs."""
        out = torch.zeros(len(column), self.width)
        out[torch.arange(len(column)), self.starts[column] + category] = 1.0
        return out
