"""Quality metrics, each one small module with the shared update/compute interface of `base.Metric`:

`fd` Fréchet distance · `kid` kernel distance · `is` Inception Score · `pr` precision/recall ·
`dc` density/coverage · `modes` mode coverage (mixtures: by nearest centre; digits: by classifier).
"""

from ganforge.metrics.base import Metric
from ganforge.metrics.frechet import FrechetDistance, frechet_distance
from ganforge.metrics.inception_score import InceptionScore
from ganforge.metrics.kid import KernelDistance
from ganforge.metrics.modes import ClassifierModes, MixtureModes, mode_statistics
from ganforge.metrics.prdc import DensityCoverage, PrecisionRecall

METRIC_NAMES = ("fd", "kid", "is", "pr", "dc", "modes")

__all__ = ["METRIC_NAMES", "ClassifierModes", "DensityCoverage", "FrechetDistance", "InceptionScore",
           "KernelDistance", "Metric", "MixtureModes", "PrecisionRecall", "frechet_distance", "mode_statistics"]
