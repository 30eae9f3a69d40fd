"""ganforge: train, measure and diagnose Generative Adversarial Networks on your own data.

    run = ganforge.train(data="ring", model="mlp", steps=2000, out="runs/r")
    g = ganforge.load("runs/r")
    x = g.sample(16, seed=0)
    report = ganforge.evaluate("runs/r", n=2500)
"""

from ganforge.api import TrainedGenerator, evaluate, load, train
from ganforge.version import __version__

__all__ = ["TrainedGenerator", "__version__", "evaluate", "load", "train"]
