"""Time-series metrics as TimeGAN's reference code computes them (jsyoon0823/TimeGAN, `metrics/`), on sequences
min-max scaled to [0, 1] by the training data's range:

- discriminative score: a post-hoc GRU classifier (hidden size ⌊F/2⌋, last state → one logit) trained to tell real
  from synthetic on 80 % of each (2,000 Adam steps of 128 + 128), |accuracy − 0.5| on the other 20 %; 0 is best;
- predictive score: a GRU (hidden ⌊F/2⌋, sigmoid output at each step) trained on synthetic data to predict the last
  feature one step ahead from the other features (5,000 Adam steps of 128, absolute error), its mean absolute error
  on the real data ("train on synthetic, test on real"); the same model trained on real data gives the floor;
- correlational score (Diffusion-TS): the summed absolute difference of the features' cross-correlations at lag 0,
  real against synthetic, divided by 10, on random draws (with replacement) of a fifth of each set;
- Context-FID (Diffusion-TS): the Fréchet distance of TS2Vec embeddings, the encoder trained on the real series
  (`metrics/ts2vec.py`).

Each is repeated (`repeats`; TimeGAN: 10, Diffusion-TS: 5) with new splits and initial weights and given as mean and
std. PyTorch's
GRU starts from its own initial weights (TensorFlow's GRUCell from Glorot's), the one known difference.
"""

from __future__ import annotations

import statistics
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ganforge.data.base import SEQUENCE
from ganforge.data.sequences import unit_range
from ganforge.errors import GanforgeError
from ganforge.metrics.base import Context, Metric, register_metric
from ganforge.metrics.frechet import frechet_distance, mean_and_covariance
from ganforge.metrics.ts2vec import embed, fit_ts2vec

TRAIN_SHARE = 0.8


class _PostHocGRU(nn.Module):
    """TimeGAN's post-hoc networks: a one-layer GRU of hidden size ⌊F/2⌋ (at least 1) and a linear output."""

    def __init__(self, features: int, outputs_every_step: bool):
        super().__init__()
        hidden = max(1, features // 2)
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)
        self.every_step = outputs_every_step

    def forward(self, x: Tensor) -> Tensor:
        states, last = self.gru(x)
        return self.out(states).squeeze(-1) if self.every_step else self.out(last[-1]).squeeze(-1)


def discriminative_score(real: Tensor, fake: Tensor, iterations: int = 2000, batch: int = 128,
                         seed: int = 0) -> float:
    """TimeGAN's discriminative score of (N, T, F) sequences in [0, 1]: |test accuracy − 0.5| of a GRU classifier."""
    real, fake = real.float(), fake.float()  # float32, as the reference (and 2.5x faster than float64 here)
    rng = torch.Generator().manual_seed(seed)
    real_train, real_test = _split(real, rng)
    fake_train, fake_test = _split(fake, rng)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _PostHocGRU(real.shape[-1], outputs_every_step=False)
    optimiser = torch.optim.Adam(model.parameters())
    loss = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    for _ in range(iterations):
        x_real = real_train[torch.randint(len(real_train), (batch,), generator=rng)]
        x_fake = fake_train[torch.randint(len(fake_train), (batch,), generator=rng)]
        optimiser.zero_grad(set_to_none=True)
        (loss(model(x_real), ones[: len(x_real)]) + loss(model(x_fake), zeros[: len(x_fake)])).backward()
        optimiser.step()
    with torch.no_grad():
        right = (model(real_test) > 0).sum() + (model(fake_test) <= 0).sum()
    accuracy = float(right) / (len(real_test) + len(fake_test))
    return abs(accuracy - 0.5)


def predictive_score(train: Tensor, test: Tensor, iterations: int = 5000, batch: int = 128, seed: int = 0) -> float:
    """TimeGAN's predictive score: a GRU trained on `train` to predict the last feature one step ahead from the
    others, its mean absolute error on `test` (per sequence, then averaged). Needs 2 or more features."""
    if train.shape[-1] < 2:
        raise GanforgeError("the predictive score predicts the last feature from the others: it needs sequences of "
                            "2 or more features")
    train, test = train.float(), test.float()
    rng = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _PostHocGRU(train.shape[-1] - 1, outputs_every_step=True)
    optimiser = torch.optim.Adam(model.parameters())
    for _ in range(iterations):
        x = train[torch.randint(len(train), (batch,), generator=rng)]
        optimiser.zero_grad(set_to_none=True)
        (torch.sigmoid(model(x[:, :-1, :-1])) - x[:, 1:, -1]).abs().mean().backward()
        optimiser.step()
    with torch.no_grad():
        error = (torch.sigmoid(model(test[:, :-1, :-1])) - test[:, 1:, -1]).abs().mean(1)
    return float(error.mean())


def correlational_score(real: Tensor, fake: Tensor) -> float:
    """Diffusion-TS's correlational score: Σ |corr(fake) − corr(real)| / 10 over the lower triangle (diagonal
    included) of the features' correlation at lag 0, each feature standardised over samples and steps."""
    return float((_lag0_correlations(fake) - _lag0_correlations(real)).abs().sum() / 10.0)


def correlational_on_fifths(real: Tensor, fake: Tensor, seed: int = 0) -> float:
    """The correlational score as Diffusion-TS's notebook draws it: on a fifth of each set, drawn with replacement."""
    rng = torch.Generator().manual_seed(seed)
    size = max(2, len(real) // 5)
    return correlational_score(real[torch.randint(len(real), (size,), generator=rng)],
                               fake[torch.randint(len(fake), (size,), generator=rng)])


def context_fid(real: Tensor, fake: Tensor, seed: int = 0) -> float:
    """Diffusion-TS's Context-FID: a TS2Vec encoder trained on `real`, the Fréchet distance of both sets' embeddings."""
    encoder = fit_ts2vec(real, seed=seed)
    return frechet_distance(*mean_and_covariance(embed(encoder, real)), *mean_and_covariance(embed(encoder, fake)))


def _lag0_correlations(x: Tensor) -> Tensor:
    rows, cols = torch.tril_indices(x.shape[-1], x.shape[-1])
    z = (x - x.mean((0, 1), keepdim=True)) / x.std((0, 1), keepdim=True)
    return (z[..., rows] * z[..., cols]).mean(1).mean(0)


def _split(x: Tensor, rng: torch.Generator) -> tuple[Tensor, Tensor]:
    """TimeGAN's `train_test_divide`: a random 80/20 split."""
    order = torch.randperm(len(x), generator=rng)
    cut = int(len(x) * TRAIN_SHARE)
    return x[order[:cut]], x[order[cut:]]


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


class SequenceMetric(Metric):
    """A metric of time series: real and generated sequences in the user's units, scaled to [0, 1] here."""

    needs: ClassVar[str] = "sequences"
    repeats: ClassVar[int] = 10

    def __init__(self, codec: Any = None, repeats: int | None = None) -> None:
        super().__init__()
        self.codec = codec
        self.repeats = repeats or type(self).repeats

    @classmethod
    def unavailable(cls, context: Context) -> str | None:
        if context.dataset.kind != SEQUENCE:
            return f"metric {cls.name} measures time series; {context.dataset.name} is {context.dataset.kind} data"
        return None

    @classmethod
    def create(cls, context: Context) -> Metric:
        return cls(context.dataset.codec, context.repeats)

    def _scaled(self) -> tuple[Tensor, Tensor]:
        real, fake = self._gathered()
        return unit_range(real, self.codec), unit_range(fake, self.codec)

    def score(self, real: Tensor, fake: Tensor, repeat: int) -> float:
        """One repetition's score (new split, initial weights or draws for each `repeat`)."""
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        real, fake = self._scaled()
        mean, std = _mean_std([self.score(real, fake, r) for r in range(self.repeats)])
        key = self.name.replace("-", "_")
        return {key: mean, f"{key}_std": std}


@register_metric
class DiscriminativeScore(SequenceMetric):
    name = "discriminative"
    description = "TimeGAN's discriminative score: |accuracy − 0.5| of a post-hoc GRU telling real from synthetic"
    values: ClassVar[dict[str, str | None]] = {"discriminative": "min", "discriminative_std": None}

    def score(self, real: Tensor, fake: Tensor, repeat: int) -> float:
        return discriminative_score(real, fake, seed=repeat)


@register_metric
class PredictiveScore(SequenceMetric):
    name = "predictive"
    description = ("TimeGAN's predictive score: MAE on real data of a GRU trained on synthetic data to predict the "
                   "last feature one step ahead (beside it: the same trained on real data)")
    values: ClassVar[dict[str, str | None]] = {"predictive": "min", "predictive_std": None, "predictive_real": None}

    def score(self, real: Tensor, fake: Tensor, repeat: int) -> float:
        return predictive_score(fake, real, seed=repeat)

    def compute(self) -> dict[str, float]:
        real, _ = self._scaled()
        floor = _mean_std([predictive_score(real, real, seed=r) for r in range(self.repeats)])[0]
        return {**super().compute(), "predictive_real": floor}


@register_metric
class CorrelationalScore(SequenceMetric):
    name = "correlational"
    description = "Diffusion-TS's correlational score: absolute difference of the features' cross-correlations"
    values: ClassVar[dict[str, str | None]] = {"correlational": "min", "correlational_std": None}
    repeats = 5

    def score(self, real: Tensor, fake: Tensor, repeat: int) -> float:
        return correlational_on_fifths(real, fake, seed=repeat)


@register_metric
class ContextFID(SequenceMetric):
    name = "context-fid"
    description = ("Diffusion-TS's Context-FID: Fréchet distance of TS2Vec embeddings (the encoder trained here on "
                   "the real series; nothing downloaded)")
    values: ClassVar[dict[str, str | None]] = {"context_fid": "min", "context_fid_std": None}
    repeats = 5

    def score(self, real: Tensor, fake: Tensor, repeat: int) -> float:
        return context_fid(real, fake, seed=repeat)
