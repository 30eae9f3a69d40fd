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


def test_inception_score_of_stacked_digit_logits_scores_each_channel():
    # A perfect 1,000-mode generator: every (d0, d1, d2) once, each digit predicted with confidence.
    digits = torch.cartesian_prod(torch.arange(10), torch.arange(10), torch.arange(10))
    logits = torch.nn.functional.one_hot(digits, 10).double() * 50  # (1000, 3, 10)
    metric = InceptionScore(splits=1)
    metric.update(logits, real=False)
    assert metric.compute()["is"] == pytest.approx(10.0, rel=1e-6)  # softmax over the channels gave 1.32
    metric.reset()
    metric.update(logits[:, [0, 0, 0]], real=False)  # channel 0 is the same class in 100 samples a row
    assert metric.compute()["is"] == pytest.approx(10.0, rel=1e-6)
    metric.reset()
    one_class = logits.clone()
    one_class[:, 1] = torch.nn.functional.one_hot(torch.zeros(1000, dtype=torch.long), 10) * 50  # channel 1: all 0
    metric.update(one_class, real=False)
    assert metric.compute()["is"] == pytest.approx((10 + 1 + 10) / 3, rel=1e-6)


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
    disjoint = _prdc(real, real + 100.0)
    assert disjoint == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_by_hand_on_points_of_a_line():
    real = torch.arange(10, dtype=torch.float64)[:, None]  # 0, 1, …, 9
    fake = torch.tensor([[0.0], [1.0], [2.0], [20.0]], dtype=torch.float64)  # three at the left end, one far away
    result = _prdc(real, fake)
    # k = 3: real balls have radius 3 at the ends and 2 inside; 0, 1 and 2 lie in one, 20 in none.
    assert result["precision"] == 0.75
    # fake balls (k = 3 among the four fakes) have radii 20, 19, 18, 20: every real point lies in one.
    assert result["recall"] == 1.0
    # k = 5: real radii 5, 4, 3, 3, 3, 3, 3, 3, 4, 5. The balls holding 0 are those of 0–3 (4), holding 1: 0–4 (5),
    # holding 2: 0–5 (6), holding 20: none; density = (4 + 5 + 6 + 0) / (k · 4 fakes) = 0.75 (without 1/k: 3.75).
    assert result["density"] == pytest.approx(0.75)
    # a real point is covered when its nearest fake is inside its own ball: 0–5 yes; 6 (4 > 3), 7 (5 > 3),
    # 8 (6 > 4), 9 (7 > 5) no.
    assert result["coverage"] == pytest.approx(0.6)


def test_mode_statistics_on_the_mixtures():
    modes = ring_modes()
    perfect = modes.repeat_interleave(10, 0) + 0.001
    stats = mode_statistics(perfect, modes, std=0.01)
    assert stats == {"modes": 8, "modes_total": 8, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}
    # High quality is a disc of radius 3σ (PacGAN's Mahalanobis distance), not the box |dx|, |dy| ≤ 3σ.
    corner, inside = torch.tensor([[0.025, 0.025]]), torch.tensor([[0.02, 0.02]])  # box yes, disc no; both yes
    assert mode_statistics(modes[:1] + corner, modes, std=0.01)["high_quality"] == 0.0
    assert mode_statistics(modes[:1] + inside, modes, std=0.01)["high_quality"] == 1.0
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


def test_one_registry_serves_evaluate_best_metric_and_the_help(capsys):
    from pathlib import Path

    from ganforge.cli import main
    from ganforge.data import load_dataset
    from ganforge.errors import GanforgeError
    from ganforge.metrics import METRICS, Context, Metric, better_direction, register_metric, value_directions
    from ganforge.metrics.evaluate import default_metrics, evaluate

    assert list(METRICS) == ["fd", "kid", "is", "pr", "dc", "modes", "cas", "fidelity", "intra-fd", "discriminative",
                             "predictive", "correlational", "context-fid", "l1", "psnr", "ssim", "niqe", "cycle"]
    assert better_direction("fd") == "min" and better_direction("high_quality") == "max"
    with pytest.raises(GanforgeError, match="density is not a value that ranks checkpoints"):
        better_direction("density")
    table = (Path(__file__).parents[1] / "docs" / "metrics.md").read_text()
    for name, cls in METRICS.items():  # the metrics page's table lists every metric and every value it gives
        assert f"| `{name}` |" in table, name
        for value in cls.values:
            assert f"`{value}`" in table, value

    ring = load_dataset("ring")
    assert default_metrics(Context(ring, "raw")) == ["fd", "kid", "pr", "dc", "modes"]  # is needs logits

    @register_metric  # a new metric: one class, one decorator
    class MeanNorm(Metric):
        name = "mean_norm"
        description = "mean length of the generated samples"
        values = {"mean_norm": "min"}  # noqa: RUF012

        def compute(self):
            return {"mean_norm": float(self._gathered()[1].norm(dim=1).mean())}

    try:
        result = evaluate(lambda n, seed: ring.real_samples(n, seed=seed), ring, n=200, metrics=["mean_norm", "fd"])
        assert result["mean_norm"] == pytest.approx(1.0, abs=0.05)  # ring points lie on the unit circle
        assert better_direction("mean_norm") == "min" and "mean_norm" in value_directions()
        with pytest.raises(SystemExit):
            main(["eval", "--help"])
        assert "mean_norm" in capsys.readouterr().out
    finally:
        METRICS.pop("mean_norm")


def test_raw_features_of_large_images_are_warned_about(caplog):
    from ganforge.data import load_dataset
    from ganforge.metrics.evaluate import evaluate

    shapes = load_dataset("shapes", image_size=64)  # 3 × 64 × 64 = 12,288 dimensions
    with caplog.at_level("WARNING", logger="ganforge"):
        evaluate(lambda n, seed: shapes.real_samples(n, seed=seed + 1), shapes, n=20, metrics=["kid"],
                 features="raw", progress=False)
    assert "12,288-dimensional features" in caplog.text and "--features inception" in caplog.text
