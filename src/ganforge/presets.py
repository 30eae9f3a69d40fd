"""Presets: measured, good defaults per kind of data (`--preset NAME`; flags given with it override it).

Each entry's `measured` line is what `bench/` reported for it on the development machine (bench/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ganforge.errors import GanforgeError


@dataclass(frozen=True)
class Preset:
    """A named set of options with the measurement behind it."""

    description: str
    options: dict[str, Any]
    measured: str = ""
    kinds: tuple[str, ...] = field(default=("vector", "image"))


PRESETS: dict[str, Preset] = {
    # The mlp defaults for 10,000 steps: against minimax only the loss differs. Tuned on `ring` (seeds 0–1,
    # bench/RESULTS.md): longer training was what raised precision (3,000 steps: 87 %
    # high quality; 6,000: 91–93 %; 10,000: 94 %). Packing (30–72 %), minibatch std (38–79 %), generator EMA (9 %)
    # and linear learning-rate decay (9–83 %) all lowered it at 3,000–6,000 steps, so the preset leaves them off.
    "toy-2d": Preset(
        "2-D mixtures (ring, grid): MLP 3×256, non-saturating loss, Adam 1e-3 (0.5, 0.999), batch 256, 10,000 steps",
        {"model": "mlp", "loss": "nonsaturating", "depth": 3, "g_width": 256, "d_width": 256, "lr_g": 1e-3,
         "lr_d": 1e-3, "betas_g": [0.5, 0.999], "betas_d": [0.5, 0.999], "batch_size": 256, "steps": 10_000},
        measured="bench/modes.py, 10 seeds: ring 7.7 ± 0.3 of 8 modes, 85.8 % high quality (PacGAN's disc), reverse "
                 "KL 0.32; grid 17.1 ± 1.4 of 25 modes, 86.6 %, 0.56 (the same model with the minimax loss: ring 1.0 "
                 "mode, 12.4 %)",
        kinds=("vector",)),
    "dcgan-32": Preset(
        "the DCGAN paper's recipe at 32×32: non-saturating loss, Adam 2e-4 (0.5, 0.999), batch 64",
        {"model": "dcgan", "image_size": 32, "loss": "nonsaturating", "lr_g": 2e-4, "lr_d": 2e-4,
         "betas_g": [0.5, 0.999], "betas_d": [0.5, 0.999], "batch_size": 64},
        measured="bench/stacked_digits.py, 2,000 steps, 1 seed: 999 of 1,000 modes, KL 0.286",
        kinds=("image",)),
    "sngan-32": Preset(
        "SNGAN-style at 32×32: hinge loss, spectral normalisation, Adam 2e-4 (0.0, 0.9), generator EMA",
        {"model": "dcgan", "image_size": 32, "loss": "hinge", "spectral_norm": True, "lr_g": 2e-4, "lr_d": 2e-4,
         "betas_g": [0.0, 0.9], "betas_d": [0.0, 0.9], "batch_size": 64, "ema": 0.999},
        measured="bench/stacked_digits.py, 2,000 steps, 1 seed: 962 of 1,000 modes, KL 0.989",
        kinds=("image",)),
    "r3gan-lite": Preset(
        "R3GAN's objective on a DCGAN: relativistic loss with R1 and R2, packed discriminator, generator EMA",
        {"model": "dcgan", "loss": "relativistic", "r1": 0.1, "r2": 0.1, "lazy_every": 4, "pack": 2,
         "lr_g": 2e-4, "lr_d": 2e-4, "betas_g": [0.0, 0.99], "betas_d": [0.0, 0.99], "ema": 0.999},
        measured="bench/stacked_digits.py at 32×32, 2,000 steps, 1 seed: 996 of 1,000 modes, KL 0.467",
        kinds=("image",)),
    # What --model auto picks for a small folder of photos, by name (so a run on a built-in set or a bigger folder
    # can ask for it too): fastgan at 64×64 with adaptive augmentation.
    "photos-64": Preset(
        "few photos at 64×64: the fastgan family (skip-layer excitation, self-supervised D) with adaptive "
        "augmentation",
        {"model": "fastgan", "image_size": 64, "augment_p": "ada"},
        measured="bench/photos.py, the 400 Olivetti faces, 20 minutes of training on 2 CPU cores, 2 seeds: FID 82.5 "
                 "and 57.5 (mean 70.0), KID 0.071 (the 2016 DCGAN without augmentation in the same time: FID 97.7 "
                 "and 97.2, KID 0.126)",
        kinds=("image",)),
}


def preset_options(name: str) -> dict[str, Any]:
    """The options of preset `name`, or a one-line error listing the presets."""
    if name not in PRESETS:
        raise GanforgeError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return dict(PRESETS[name].options)
