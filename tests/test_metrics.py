"""Metric values against independent references: scipy, torchmetrics, hand-computed cases, known distributions."""

import numpy as np
import pytest
import scipy.linalg
import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import poly_mmd

from ganforge.data.toy import grid_modes, ring_modes
from ganforge.metrics import (
    ClassifierModes,
    DensityCoverage,
    FrechetDistance,
    InceptionScore,
    KernelDistance,
    PrecisionRecall,
    frechet_distance,
    mode_statistics,
)
from ganforge.metrics.kid import polynomial_mmd


def scipy_frechet(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_covariance(rng, dim, rank=None):
    rank = rank or dim
    factor = rng.normal(size=(dim, rank))
    return factor @ factor.T / rank


@pytest.mark.parametrize(("dim", "rank"), [(8, None), (64, None), (64, 20), (200, 150)])
def test_frechet_matches_scipy_float64_reference(dim, rank):
    rng = np.random.default_rng(dim)
    s1, s2 = random_covariance(rng, dim, rank), random_covariance(rng, dim, rank)  # rank < dim: singular
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    ours = frechet_distance(*map(torch.from_numpy, (mu1, s1, mu2, s2)))
    assert ours == pytest.approx(scipy_frechet(mu1, s1, mu2, s2), rel=1e-6)


def test_frechet_of_identical_and_shifted_gaussians():
    rng = np.random.default_rng(0)
    s = torch.from_numpy(random_covariance(rng, 16))
    mu = torch.zeros(16, dtype=torch.float64)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    # identical covariances: only the means count, ‖μ₁ − μ₂‖² = 16 · 0.5² = 4
    assert frechet_distance(mu, s, mu + 0.5, s) == pytest.approx(4.0, rel=1e-9)
    # 1-D by hand: (1 − 0)² + 4 + 1 − 2·√(4·1) = 2
    one = torch.ones(1, 1, dtype=torch.float64)
    assert frechet_distance(torch.zeros(1), 4 * one, torch.ones(1), one) == pytest.approx(2.0)


def test_frechet_metric_equals_torchmetrics_fid_on_the_same_features():
    class Identity(torch.nn.Module):
        num_features = 32

        def forward(self, x):
            return x

    generator = torch.Generator().manual_seed(0)
    real = torch.randn(500, 32, generator=generator, dtype=torch.float64)
    fake = 0.8 * torch.randn(500, 32, generator=generator, dtype=torch.float64) + 0.3
    reference = FrechetInceptionDistance(feature=Identity())
    reference.update(real, real=True)
    reference.update(fake, real=False)
    ours = FrechetDistance()
    ours.update(real, real=True)
    ours.update(fake, real=False)
    assert ours.compute()["fd"] == pytest.approx(float(reference.compute()), rel=1e-6)


def test_kid_agrees_with_torchmetrics_and_detects_a_shift():
    generator = torch.Generator().manual_seed(1)
    real = torch.randn(300, 16, generator=generator, dtype=torch.float64)
    same = torch.randn(300, 16, generator=generator, dtype=torch.float64)
    shifted = same + 1.0
    assert float(polynomial_mmd(real, shifted)) == pytest.approx(float(poly_mmd(real, shifted)), rel=1e-9)
    metric = KernelDistance(subsets=20, subset_size=100)
    metric.update(real, real=True)
    metric.update(same, real=False)
    near = metric.compute()
    metric.reset()
    metric.update(real, real=True)
    metric.update(shifted, real=False)
    far = metric.compute()
    assert abs(near["kid"]) < 3 * near["kid_std"] + 1e-3  # unbiased: ≈ 0 for the same distribution
    assert far["kid"] > 10 * max(near["kid"], 1e-3) and far["kid_std"] > 0


def test_inception_score_by_hand():
    metric = InceptionScore(splits=1)
    confident = torch.eye(4, dtype=torch.float64) * 50  # four confident, distinct classes
    metric.update(confident, real=False)
    assert metric.compute()["is"] == pytest.approx(4.0, rel=1e-6)  # exp(log 4)
    metric.reset()
    metric.update(torch.zeros(8, 4), real=False)  # uniform predictions: no information
    assert metric.compute()["is"] == pytest.approx(1.0)


def _prdc(real, fake):
    pr, dc = PrecisionRecall(), DensityCoverage()
    for metric in (pr, dc):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    return {**pr.compute(), **dc.compute()}


def test_precision_recall_density_coverage_on_known_distributions():
    generator = torch.Generator().manual_seed(2)
    real = torch.randn(400, 2, generator=generator)
    identical = _prdc(real, real.clone())
    assert identical["precision"] == 1.0 and identical["recall"] == 1.0 and identical["coverage"] == 1.0
    assert identical["density"] >= 1.0  # each sample sits in its own ball and its neighbours'
    disjoint = _prdc(real, real + 100.0)
    assert disjoint == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    # generated = the real points with x < 0 (a subset): everything generated is realistic, half the data is missed
    subset = _prdc(real, real[real[:, 0] < 0])
    assert subset["precision"] == 1.0
    assert 0.35 < subset["recall"] < 0.65 and 0.35 < subset["coverage"] < 0.65


def test_mode_statistics_on_the_mixtures():
    modes = ring_modes()
    perfect = modes.repeat_interleave(10, 0) + 0.001
    stats = mode_statistics(perfect, modes, std=0.01)
    assert stats == {"modes": 8, "modes_total": 8, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}
    collapsed = torch.cat([modes[:2].repeat(50, 1), torch.zeros(100, 2)])  # two modes; half the points off-circle
    stats = mode_statistics(collapsed, modes, std=0.01)
    assert stats["modes"] == 2 and stats["high_quality"] == 0.5
    assert stats["reverse_kl"] == pytest.approx(np.log(4))  # uniform over 2 of 8 modes: log(8/2)
    assert mode_statistics(grid_modes()[:5], grid_modes(), std=0.05)["modes"] == 5


def test_classifier_modes_for_digits_and_stacked_digits():
    metric = ClassifierModes()
    logits = torch.nn.functional.one_hot(torch.arange(20) % 5, 10).double()
    metric.update(logits, real=False)
    assert metric.compute() == {"modes": 5, "modes_total": 10, "kl_uniform": pytest.approx(np.log(2))}
    stacked = torch.nn.functional.one_hot(torch.tensor([[1, 2, 3], [1, 2, 3], [9, 9, 9]]), 10).double()
    metric.reset()
    metric.update(stacked, real=False)
    result = metric.compute()
    assert result["modes"] == 2 and result["modes_total"] == 1000
