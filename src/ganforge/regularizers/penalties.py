"""Gradient penalties on the discriminator (the regularisation phase of stylegan2-ada's loss, kept apart)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def gradient_norm_squared(logits: Tensor, inputs: Tensor) -> Tensor:
    """‖∇ₓ D(x)‖² per sample, with a graph so the penalty itself can be minimised."""
    (grad,) = torch.autograd.grad(logits.float().sum(), inputs, create_graph=True)
    return grad.float().square().flatten(1).sum(1)


def r1_penalty(logits: Tensor, inputs: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018) when `inputs` are real, R2 when generated: ½ E‖∇D‖² (times γ by the caller)."""
    return 0.5 * gradient_norm_squared(logits, inputs).mean()


def wgan_gradient_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """E[(‖∇D(x̂)‖ − 1)²] on random interpolates x̂ between real and generated samples (Gulrajani et al. 2017)."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    norms = gradient_norm_squared(discriminator(mixed), mixed).add(1e-12).sqrt()
    return (norms - 1).square().mean()
