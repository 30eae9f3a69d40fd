"""A small digit classifier, trained by `scripts/train_digit_classifier.py` on scikit-learn's digits and shipped as
safetensors. It gives meaningful features offline for `digits` and `stacked-digits` (one digit per channel), and the
labels behind their mode-coverage metrics."""

from __future__ import annotations

from importlib import resources

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

WEIGHTS_FILE = "digit_classifier.safetensors"
INPUT_SIZE = 16
FEATURES = 128


class DigitClassifier(nn.Module):
    """Grayscale digit in [0, 1] at any size → (128 penultimate features, 10 logits). Input is resized to 16×16."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 4 * 4, FEATURES), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, 10)

    @staticmethod
    def prepare(images: Tensor) -> Tensor:
        """Resize to 16×16 with antialiasing (generated digits come at 16 to 256 pixels)."""
        if images.shape[-1] != INPUT_SIZE or images.shape[-2] != INPUT_SIZE:
            images = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True,
                                   align_corners=False)
        return images * 2 - 1

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(self.prepare(images))
        return features, self.head(features)


def load_digit_classifier() -> DigitClassifier:
    """The shipped classifier, in eval mode."""
    model = DigitClassifier()
    with resources.as_file(resources.files("ganforge.features") / WEIGHTS_FILE) as path:
        model.load_state_dict(load_file(str(path)))
    return model.eval()


class DigitFeatures(nn.Module):
    """Features and logits of the digit classifier. Three-channel images are stacked digits: each channel is
    classified on its own, features are concatenated (384) and logits come as (N, 3, 10)."""

    name = "digits"

    def __init__(self) -> None:
        super().__init__()
        self.classifier = load_digit_classifier()

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        n, channels = images.shape[:2]
        features, logits = self.classifier(images.reshape(n * channels, 1, *images.shape[2:]).float())
        if channels == 1:
            return features, logits
        return features.reshape(n, channels * FEATURES), logits.reshape(n, channels, 10)
