"""A TS2Vec encoder (Yue et al. 2022), trained on the real series alone, for Diffusion-TS's Context-FID.

Context-FID (Jeha et al. 2022, as Diffusion-TS's `Utils/context_fid.py` computes it) is the Fréchet distance between
TS2Vec embeddings of real and synthetic series. Nothing is downloaded: the encoder is trained here, on the real data,
with TS2Vec's own setup as Diffusion-TS calls it — a linear input map to 64 channels, 10 residual blocks of dilated
convolutions (kernel 3, dilation 2^i, GELU) and a last block to 320 channels, a binomial mask on the input map's
output, two overlapping random crops of each batch contrasted hierarchically (instance and temporal terms, max-pooled
by 2 until one step is left), AdamW at 1e-3, batch 8, 200 iterations (600 when the data hold over 100,000 numbers),
and the weights averaged over iterations (SWA). A series' embedding is the max over its steps.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

HIDDEN, OUTPUT, DEPTH = 64, 320, 10


class _DilatedBlock(nn.Module):
    """GELU → dilated conv → GELU → dilated conv, plus the input (projected where the widths differ)."""

    def __init__(self, inputs: int, outputs: int, dilation: int, final: bool):
        super().__init__()
        self.field = 2 * dilation + 1  # kernel 3
        self.conv1 = nn.Conv1d(inputs, outputs, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(outputs, outputs, 3, padding=dilation, dilation=dilation)
        self.projector = nn.Conv1d(inputs, outputs, 1) if inputs != outputs or final else None

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.projector is None else self.projector(x)
        return self.conv2(F.gelu(self.conv1(F.gelu(x)))) + residual


class TS2VecEncoder(nn.Module):
    """(N, T, F) series → (N, T, 320) representations per step."""

    def __init__(self, features: int):
        super().__init__()
        self.input_map = nn.Linear(features, HIDDEN)
        widths = [HIDDEN] * DEPTH + [OUTPUT]
        self.blocks = nn.Sequential(*(_DilatedBlock(widths[i - 1] if i else HIDDEN, widths[i], 2 ** i,
                                                    final=i == len(widths) - 1) for i in range(len(widths))))
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        h = self.input_map(x)
        if self.training:  # TS2Vec's binomial mask: each step of each series kept with probability 1/2
            keep = torch.rand(h.shape[:2], generator=generator) < 0.5
            h = h * keep.unsqueeze(-1)
        return self.dropout(self.blocks(h.transpose(1, 2))).transpose(1, 2)


def _hierarchical_loss(z1: Tensor, z2: Tensor) -> Tensor:
    """TS2Vec's hierarchical contrastive loss: instance and temporal terms (α = 0.5) at each scale of max-pooling."""
    loss, scales = z1.new_zeros(()), 0
    while z1.shape[1] > 1:
        loss = loss + 0.5 * _instance_loss(z1, z2) + 0.5 * _temporal_loss(z1, z2)
        scales += 1
        z1 = F.max_pool1d(z1.transpose(1, 2), 2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), 2).transpose(1, 2)
    if z1.shape[1] == 1:
        loss = loss + 0.5 * _instance_loss(z1, z2)
        scales += 1
    return loss / scales


def _contrast(z: Tensor, count: int) -> Tensor:
    """Mean negative log-likelihood that row i matches row i + count (and back) among all others in z (.., 2n, C)."""
    similarity = z @ z.transpose(-1, -2)
    logits = torch.tril(similarity, diagonal=-1)[..., :-1] + torch.triu(similarity, diagonal=1)[..., 1:]
    logits = -F.log_softmax(logits, dim=-1)
    i = torch.arange(count)
    return (logits[..., i, count + i - 1].mean() + logits[..., count + i, i].mean()) / 2


def _instance_loss(z1: Tensor, z2: Tensor) -> Tensor:
    if len(z1) == 1:
        return z1.new_zeros(())
    return _contrast(torch.cat([z1, z2]).transpose(0, 1), len(z1))  # per step, series against series


def _temporal_loss(z1: Tensor, z2: Tensor) -> Tensor:
    if z1.shape[1] == 1:
        return z1.new_zeros(())
    return _contrast(torch.cat([z1, z2], 1), z1.shape[1])  # per series, step against step


def fit_ts2vec(series: Tensor, seed: int = 0, batch: int = 8, iterations: int | None = None) -> nn.Module:
    """Train a TS2Vec encoder on (N, T, F) series; returns its weight average, in eval mode."""
    series = series.float()
    if iterations is None:
        iterations = 200 if series.numel() <= 100_000 else 600
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = TS2VecEncoder(series.shape[-1])
    average = torch.optim.swa_utils.AveragedModel(encoder)
    optimiser = torch.optim.AdamW(encoder.parameters(), lr=1e-3)
    length = series.shape[1]
    batch = min(batch, len(series))
    order = rng.permutation(len(series))
    position = 0
    for _ in range(iterations):
        if position + batch > len(series):  # a new epoch: shuffled again, the last partial batch dropped
            order, position = rng.permutation(len(series)), 0
        x = series[torch.from_numpy(order[position:position + batch])]
        position += batch
        # Two crops overlapping in [left, right), each extended at random, at a random offset per series.
        crop = int(rng.integers(2, length + 1))
        left = int(rng.integers(length - crop + 1))
        right = left + crop
        extend_left = int(rng.integers(left + 1))
        extend_right = int(rng.integers(right, length + 1))
        offset = rng.integers(-extend_left, length - extend_right + 1, size=len(x))
        optimiser.zero_grad(set_to_none=True)
        out1 = encoder(_take(x, offset + extend_left, right - extend_left), generator)[:, -crop:]
        out2 = encoder(_take(x, offset + left, extend_right - left), generator)[:, :crop]
        _hierarchical_loss(out1, out2).backward()
        optimiser.step()
        average.update_parameters(encoder)
    return average.module.eval()


def _take(x: Tensor, starts: np.ndarray, count: int) -> Tensor:
    steps = torch.from_numpy(starts)[:, None] + torch.arange(count)
    return x[torch.arange(len(x))[:, None], steps]


@torch.no_grad()
def embed(encoder: nn.Module, series: Tensor, batch: int = 256) -> Tensor:
    """One 320-number embedding per series: the encoder's output max-pooled over all steps."""
    return torch.cat([encoder(part.float()).amax(1) for part in series.split(batch)]).double()
