"""Gradient penalties on the discriminator (the regularisation phase of stylegan2-ada's loss, kept apart)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def gradient_norm_squared(logits: Tensor, inputs: Tensor) -> Tensor:
    """‖∇ₓ D(x)‖² per sample, with a graph so the penalty itself can be minimised."""
    (grad,) = torch.autograd.grad(logits.float().sum(), inputs, create_graph=True)
    return grad.float().square().flatten(1).sum(1)


def r1_penalty(logits: Tensor, inputs: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018) when `inputs` are real, R2 when generated: ½ E‖∇D‖² (times γ by the caller)."""
    return 0.5 * gradient_norm_squared(logits, inputs).mean()


def wgan_gradient_penalty(discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, pack: int = 1,
                          generator: torch.Generator | None = None) -> Tensor:
    """E[(‖∇D(x̂)‖ − 1)²] on random interpolates x̂ between real and generated samples (Gulrajani et al. 2017).

    With a packed discriminator (PacGAN: D judges `pack` samples at once) the critic's input is the pack: one α per
    pack and one gradient norm per pack, over all of its samples. `generator` draws α (the global RNG if None).
    `discriminator` is any function of the samples (a conditional run passes D with the real samples' classes).
    """
    n = real.shape[0]
    alpha = torch.rand(n // pack, generator=generator).to(real.device, real.dtype)
    alpha = alpha.repeat_interleave(pack).view((n,) + (1,) * (real.dim() - 1))
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(mixed).float().sum(), mixed, create_graph=True)
    norms = torch.linalg.vector_norm(grad.float().reshape(n // pack, -1), dim=1)
    return (norms - 1).square().mean()
