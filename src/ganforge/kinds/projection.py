"""Editing real photos through a trained generator: `project` finds the latent whose image is closest to a photo.

As StyleGAN2's projector does, in its simplest form: the best of `starts` random latents is the starting point, and
Adam then moves the latent to lower the distance between G(z) and the photo, here the mean squared error in model
space at full and half resolution (the half-size term weighs shapes over pixel noise), plus a light pull of |z|²/d
towards 1 that keeps normal noise where the generator was trained. No perceptual (LPIPS) term: its VGG weights are
not shipped and nothing is downloaded. The learning rate falls by a cosine to a tenth, so the last steps settle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from ganforge.errors import GanforgeError
from ganforge.kinds.generator import TrainedGenerator, path

PRIOR_WEIGHT = 1e-3  # the pull of |z|²/d towards 1


@dataclass
class Projection:
    """Latents (N, d) for N photos, their images in [0, 1] (N, C, H, W), and each one's final MSE and PSNR (in [0, 1]
    pixels), with the loss over the steps (mean over photos)."""

    latents: Tensor
    images: Tensor
    mse: list[float]
    psnr: list[float]
    losses: list[float]


def _distance(fake: Tensor, real: Tensor) -> Tensor:
    """Per image: MSE at full size plus MSE at half size."""
    full = (fake - real).pow(2).flatten(1).mean(1)
    if fake.shape[-1] < 8:
        return full
    half = (F.avg_pool2d(fake, 2) - F.avg_pool2d(real, 2)).pow(2).flatten(1).mean(1)
    return full + half


def project(generator: TrainedGenerator, photos: Tensor, steps: int = 300, lr: float = 0.05, starts: int = 64,
            seed: int = 0, label: str | int | None = None, progress: bool = False) -> Projection:
    """Latents whose images match `photos` ((N, C, H, W) in [0, 1], at the run's size and channels)."""
    if generator.kind != "image":
        raise GanforgeError("project applies to image runs; this run makes vectors or series")
    if tuple(photos.shape[1:]) != tuple(generator.codec.shape):
        raise GanforgeError(f"the photos are {tuple(photos.shape[1:])}, the run makes {tuple(generator.codec.shape)}")
    if steps < 1:
        raise GanforgeError(f"option --steps must be at least 1, got {steps}")
    module, device = generator.generator, generator.device
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    target = generator.codec.encode(photos.float()).to(device)
    labels = generator.labels_for(len(photos), label, torch.Generator().manual_seed(seed))

    def images(z: Tensor) -> Tensor:
        count = len(z) // len(target)  # several latents per photo while picking the starts
        if labels is None:
            return module(z)
        return module(z, labels.to(device).repeat_interleave(count) if count > 1 else labels.to(device))

    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # the best of `starts` random latents for each photo
        candidates = generator.latent_noise(len(target) * starts, rng).to(device)
        scores = torch.cat([_distance(images(chunk), target.repeat_interleave(len(chunk) // len(target), 0))
                            for chunk in candidates.split(starts * len(target))])
        best = scores.view(len(target), starts).argmin(1)
        z = candidates.view(len(target), starts, -1)[torch.arange(len(target)), best].clone()
    z.requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s
                                                                                                       / steps)))
    losses = []
    for _ in tqdm(range(steps), desc="projecting", unit="step", disable=not progress, leave=False):
        fake = images(z)
        loss = _distance(fake, target).sum()
        if generator.latent == "normal":
            loss = loss + PRIOR_WEIGHT * ((z.pow(2).mean(1) - 1.0) ** 2).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if generator.latent == "uniform":
            with torch.no_grad():
                z.clamp_(-1.0, 1.0)
        losses.append(float(loss.detach()) / len(target))
    with torch.no_grad():
        made = generator.codec.decode(images(z)).clamp(0, 1).cpu()
    mse = (made - photos.float()).pow(2).flatten(1).mean(1)
    psnr = [10 * math.log10(1 / m) if m > 0 else 100.0 for m in mse.tolist()]
    return Projection(z.detach().cpu(), made, mse.tolist(), psnr, losses)


def morph(generator: TrainedGenerator, start: Tensor, end: Tensor, frames: int) -> Tensor:
    """Images along the latent path from `start` to `end` (two (d,) latents), `frames` of them, in [0, 1]."""
    if frames < 2:
        raise GanforgeError(f"option --frames must be at least 2, got {frames}")
    t = torch.linspace(0, 1, frames)
    return generator.generate(path(start, end, t, spherical=generator.latent == "normal"))


def class_walk(generator: TrainedGenerator, latent: Tensor, start: str | int, end: str | int, frames: int) -> Tensor:
    """Images of one latent (d,) as the class embedding moves from class `start` to class `end` (a conditional
    run), `frames` of them in [0, 1]: a projected photo edited from its class towards another."""
    if frames < 2:
        raise GanforgeError(f"option --frames must be at least 2, got {frames}")
    first, last = generator.class_index(start), generator.class_index(end)
    t = torch.linspace(0, 1, frames)
    weights = torch.zeros(frames, len(generator.class_names or []))
    weights[:, first] = 1 - t
    weights[:, last] += t
    return generator.generate(latent[None].expand(frames, -1), weights)


def read_photos(files: list[Path], generator: TrainedGenerator) -> Tensor:
    """Photos as the run's images: fitted to its size and channels, in [0, 1]."""
    from ganforge.data.images import decode_file

    channels, size = generator.codec.shape[0], generator.codec.shape[-1]
    photos = []
    for file in files:
        try:
            photos.append(decode_file(Path(file), size, channels).float() / 255.0)
        except (OSError, ValueError) as error:
            raise GanforgeError(f"photo {file} cannot be read as an image ({error})") from error
    return torch.stack(photos)
