"""The Inception-v3 network of every published FID: the TensorFlow graph `pt_inception-2015-12-05` ported to PyTorch.

Its blocks differ from the torchvision Inception-v3 in three places (average pools that do not count padding, and a
max pool in the last block), which is why FID needs this exact network. Parameter names follow the usual port, so the
standard weights file `pt_inception-2015-12-05-6726825d.pth` loads unchanged. Nothing is downloaded: weights come
from a path the user gives or the usual cache locations.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from ganforge.errors import GanforgeError

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_NAME
ENV_VAR = "GANFORGE_INCEPTION_WEIGHTS"


class Conv(nn.Module):
    """Convolution (no bias) → batch norm (eps 0.001) → ReLU."""

    def __init__(self, inner: int, outer: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0):
        super().__init__()
        self.conv = nn.Conv2d(inner, outer, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(outer, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)  # TF semantics


class BlockA(nn.Module):
    def __init__(self, inner: int, pool_features: int):
        super().__init__()
        self.branch1x1 = Conv(inner, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = Conv(inner, 48, 1), Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Conv(inner, 64, 1)
        self.branch3x3dbl_2, self.branch3x3dbl_3 = Conv(64, 96, 3, padding=1), Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(inner, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(_avg_pool(x))], 1)


class BlockB(nn.Module):
    def __init__(self, inner: int):
        super().__init__()
        self.branch3x3 = Conv(inner, 384, 3, stride=2)
        self.branch3x3dbl_1 = Conv(inner, 64, 1)
        self.branch3x3dbl_2, self.branch3x3dbl_3 = Conv(64, 96, 3, padding=1), Conv(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, stride=2)], 1)


class BlockC(nn.Module):
    def __init__(self, inner: int, c7: int):
        super().__init__()
        self.branch1x1 = Conv(inner, 192, 1)
        self.branch7x7_1 = Conv(inner, c7, 1)
        self.branch7x7_2 = Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = Conv(inner, c7, 1)
        self.branch7x7dbl_2 = Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = Conv(inner, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat([self.branch1x1(x), seven, double, self.branch_pool(_avg_pool(x))], 1)


class BlockD(nn.Module):
    def __init__(self, inner: int):
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = Conv(inner, 192, 1), Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(inner, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), seven, F.max_pool2d(x, 3, stride=2)], 1)


class BlockE(nn.Module):
    def __init__(self, inner: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool  # the last block of the TF graph max-pools its pooling branch
        self.branch1x1 = Conv(inner, 320, 1)
        self.branch3x3_1 = Conv(inner, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = Conv(inner, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = Conv(inner, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        three = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(three), self.branch3x3_2b(three),
                          self.branch3x3dbl_3a(double), self.branch3x3dbl_3b(double), self.branch_pool(pooled)], 1)


class FIDInception(nn.Module):
    """Images in [0, 1] (N, 3, H, W), resized to 299×299 → (2048 pool features, 1008 logits)."""

    name = "inception"

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = BlockA(192, 32), BlockA(256, 64), BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b, self.Mixed_6c = BlockC(768, 128), BlockC(768, 160)
        self.Mixed_6d, self.Mixed_6e = BlockC(768, 160), BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b, self.Mixed_7c = BlockE(1280, max_pool=False), BlockE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = images.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        features = x.mean((2, 3))
        return features, self.fc(features)


def candidate_paths() -> list[Path]:
    """Where the weights are looked for when no path is given, in order."""
    paths = []
    if os.environ.get(ENV_VAR):
        paths.append(Path(os.environ[ENV_VAR]).expanduser())
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    for folder in (torch_home / "hub" / "checkpoints", Path.home() / ".cache" / "ganforge"):
        paths += [folder / WEIGHTS_NAME, folder / WEIGHTS_NAME.replace(".pth", ".safetensors")]
    return paths


def read_weights(path: Path) -> dict[str, Tensor]:
    """A state dict from .safetensors, or from a PyTorch file through the restricted loader that runs no code."""
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GanforgeError(f"Inception weights {path} could not be read: {first}") from None


def load_inception(weights: str | Path | None = None) -> FIDInception:
    """The FID Inception network with its weights from `weights`, ${GANFORGE_INCEPTION_WEIGHTS} or the cache."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise GanforgeError(f"--inception-weights {path} does not exist; expected the file {WEIGHTS_NAME}")
    else:
        path = next((p for p in candidate_paths() if p.is_file()), None)
        if path is None:
            raise GanforgeError(
                f"the Inception weights for FID are not on this machine (ganforge never downloads): get {WEIGHTS_NAME} "
                f"from {WEIGHTS_URL} and pass --inception-weights PATH or put it in "
                f"{candidate_paths()[0].parent if not os.environ.get(ENV_VAR) else candidate_paths()[1].parent}; "
                f"or use --features digits or raw"
            )
    model = FIDInception()
    state = read_weights(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    wrong = [k for k in state if k not in own or state[k].shape != own[k].shape]
    if missing or wrong:
        sample = (missing or wrong)[0]
        raise GanforgeError(f"Inception weights {path} do not fit the FID network ({len(missing)} missing, "
                            f"{len(wrong)} unexpected or misshapen tensors, e.g. {sample!r}); expected {WEIGHTS_NAME}")
    model.load_state_dict(state, strict=False)
    return model.eval()
