"""Quality metrics, each one small module with the shared update/compute interface of `base.Metric`, registered
by name in `METRICS` (in this order: the order of `ganforge eval`'s table):

`fd` Fréchet distance · `kid` kernel distance · `is` Inception Score · `pr` precision/recall ·
`dc` density/coverage · `modes` mode coverage (mixtures: by nearest centre; digits: by classifier) ·
`cas`, `fidelity`, `intra-fd` for class-conditional runs · `discriminative`, `predictive`, `correlational` for
time series · `l1`, `psnr`, `ssim`, `niqe`, `cycle` for image-to-image runs.
"""

from ganforge.metrics.base import METRICS, Context, Metric, better_direction, register_metric, value_directions

# The registry's order is the order of these imports: the order of `ganforge eval`'s table.
# isort: off
from ganforge.metrics.frechet import FrechetDistance, frechet_distance
from ganforge.metrics.kid import KernelDistance
from ganforge.metrics.inception_score import InceptionScore
from ganforge.metrics.prdc import DensityCoverage, PrecisionRecall
from ganforge.metrics.modes import ClassifierModes, MixtureModes, ModeCoverage, mode_statistics
from ganforge.metrics.conditional import ClassFidelity, ClassificationAccuracyScore, IntraFrechetDistance
from ganforge.metrics.sequence import ContextFID, CorrelationalScore, DiscriminativeScore, PredictiveScore
from ganforge.metrics.pairs import CycleError, PairL1, PairNIQE, PairPSNR, PairSSIM
# isort: on

__all__ = [
           "METRICS",
           "ClassFidelity",
           "ClassificationAccuracyScore",
           "ClassifierModes",
           "Context",
           "ContextFID",
           "CorrelationalScore",
           "CycleError",
           "DensityCoverage",
           "DiscriminativeScore",
           "FrechetDistance",
           "InceptionScore",
           "IntraFrechetDistance",
           "KernelDistance",
           "Metric",
           "MixtureModes",
           "ModeCoverage",
           "PairL1",
           "PairNIQE",
           "PairPSNR",
           "PairSSIM",
           "PrecisionRecall",
           "PredictiveScore",
           "better_direction",
           "frechet_distance",
           "mode_statistics",
           "register_metric",
           "value_directions",
]
