"""ganforge: train, measure and diagnose Generative Adversarial Networks on your own data.

    run = ganforge.train(data="ring", model="mlp", steps=2000, out="runs/r")
    g = ganforge.load("runs/r")
    x = g.sample(16, seed=0)
    report = ganforge.evaluate("runs/r", n=2500)
"""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while they wait hold cores that another process needs: two runs side by side were 30-150x
# slower per step (bench/contention.py). The wait policy is read once, when PyTorch loads its OpenMP runtime, so it is
# chosen here, before anything imports torch; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ganforge.api import TrainedGenerator, evaluate, load, train

__all__ = ["TrainedGenerator", "__version__", "evaluate", "load", "train"]
