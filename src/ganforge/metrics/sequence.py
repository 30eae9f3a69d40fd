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

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        states, last = self.gru(x)
        if self.every_step:
            return self.out(states).squeeze(-1)
        if lengths is not None:  # the state at each series' last step (the GRU runs forward, so padding is unseen)
            return self.out(states[torch.arange(len(x)), lengths - 1]).squeeze(-1)
        return self.out(last[-1]).squeeze(-1)


def padded(x: Tensor) -> tuple[Tensor, Tensor | None]:
    """Series of different lengths (NaN after a shorter one's end) → (0 in place of NaN, each one's length), as
    TimeGAN pads them and passes their lengths; series of one length → (x, None)."""
    ended = x.isnan().all(-1)
    if not ended.any():
        return x, None
    lengths = torch.where(ended.any(1), ended.int().argmax(1), x.shape[1])
    return x.nan_to_num(0.0), lengths.clamp_min(2)


def discriminative_score(real: Tensor, fake: Tensor, iterations: int = 2000, batch: int = 128,
                         seed: int = 0) -> float:
    """TimeGAN's discriminative score of (N, T, F) sequences in [0, 1]: |test accuracy − 0.5| of a GRU classifier."""
    real, fake = real.float(), fake.float()  # float32, as the reference (and 2.5x faster than float64 here)
    (real, real_lengths), (fake, fake_lengths) = padded(real), padded(fake)
    if (real_lengths is None) != (fake_lengths is None):  # one set has a single length: give it its lengths too
        real_lengths = torch.full((len(real),), real.shape[1]) if real_lengths is None else real_lengths
        fake_lengths = torch.full((len(fake),), fake.shape[1]) if fake_lengths is None else fake_lengths
    rng = torch.Generator().manual_seed(seed)
    (real_train, real_test), (real_train_lengths, real_test_lengths) = _split(real, rng, real_lengths)
    (fake_train, fake_test), (fake_train_lengths, fake_test_lengths) = _split(fake, rng, fake_lengths)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _PostHocGRU(real.shape[-1], outputs_every_step=False)
    optimiser = torch.optim.Adam(model.parameters())
    loss = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    for _ in range(iterations):
        pick_real = torch.randint(len(real_train), (batch,), generator=rng)
        pick_fake = torch.randint(len(fake_train), (batch,), generator=rng)
        optimiser.zero_grad(set_to_none=True)
        (loss(model(real_train[pick_real], _picked(real_train_lengths, pick_real)), ones[: len(pick_real)])
         + loss(model(fake_train[pick_fake], _picked(fake_train_lengths, pick_fake)), zeros[: len(pick_fake)])
         ).backward()
        optimiser.step()
    with torch.no_grad():
        right = (model(real_test, real_test_lengths) > 0).sum() + (model(fake_test, fake_test_lengths) <= 0).sum()
    accuracy = float(right) / (len(real_test) + len(fake_test))
    return abs(accuracy - 0.5)


def predictive_score(train: Tensor, test: Tensor, iterations: int = 5000, batch: int = 128, seed: int = 0) -> float:
    """TimeGAN's predictive score: a GRU trained on `train` to predict the last feature one step ahead from the
    others, its mean absolute error on `test` (per sequence, then averaged). Needs 2 or more features."""
    if train.shape[-1] < 2:
        raise GanforgeError("the predictive score predicts the last feature from the others: it needs sequences of "
                            "2 or more features")
    (train, train_lengths), (test, test_lengths) = padded(train.float()), padded(test.float())
    rng = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _PostHocGRU(train.shape[-1] - 1, outputs_every_step=True)
    optimiser = torch.optim.Adam(model.parameters())
    for _ in range(iterations):
        pick = torch.randint(len(train), (batch,), generator=rng)
        x = train[pick]
        optimiser.zero_grad(set_to_none=True)
        error = (torch.sigmoid(model(x[:, :-1, :-1])) - x[:, 1:, -1]).abs()
        _step_mean(error, _picked(train_lengths, pick)).mean().backward()
        optimiser.step()
    with torch.no_grad():
        error = _step_mean((torch.sigmoid(model(test[:, :-1, :-1])) - test[:, 1:, -1]).abs(), test_lengths)
    return float(error.mean())


def _step_mean(error: Tensor, lengths: Tensor | None) -> Tensor:
    """Each series' mean error over the steps it predicts (its length − 1 of them, TimeGAN's per-series MAE)."""
    if lengths is None:
        return error.mean(1)
    valid = (torch.arange(error.shape[1], device=error.device)[None] < (lengths - 1)[:, None]).to(error)
    return (error * valid).sum(1) / valid.sum(1)


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
    real, fake = real.nan_to_num(0.0), fake.nan_to_num(0.0)  # after a shorter series' end: 0, TimeGAN's padding
    encoder = fit_ts2vec(real, seed=seed)
    return frechet_distance(*mean_and_covariance(embed(encoder, real)), *mean_and_covariance(embed(encoder, fake)))


def _lag0_correlations(x: Tensor) -> Tensor:
    rows, cols = torch.tril_indices(x.shape[-1], x.shape[-1])
    if not x.isnan().any():
        z = (x - x.mean((0, 1), keepdim=True)) / x.std((0, 1), keepdim=True)
        return (z[..., rows] * z[..., cols]).mean(1).mean(0)
    # series of different lengths: over the steps each one lasts
    lasting = ~x.isnan()
    count = lasting.sum((0, 1), keepdim=True)
    mean = x.nansum((0, 1), keepdim=True) / count
    std = (((x - mean).nan_to_num(0.0) ** 2).sum((0, 1), keepdim=True) / (count - 1)).sqrt()
    products = ((x - mean) / std)[..., rows] * ((x - mean) / std)[..., cols]
    return products.nanmean(1).mean(0)


def _split(x: Tensor, rng: torch.Generator, lengths: Tensor | None = None
           ) -> tuple[tuple[Tensor, Tensor], tuple[Tensor | None, Tensor | None]]:
    """TimeGAN's `train_test_divide`: a random 80/20 split (of the series, and of their lengths when given)."""
    order = torch.randperm(len(x), generator=rng)
    cut = int(len(x) * TRAIN_SHARE)
    if lengths is None:
        return (x[order[:cut]], x[order[cut:]]), (None, None)
    return (x[order[:cut]], x[order[cut:]]), (lengths[order[:cut]], lengths[order[cut:]])


def _picked(lengths: Tensor | None, index: Tensor) -> Tensor | None:
    return None if lengths is None else lengths[index]


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
