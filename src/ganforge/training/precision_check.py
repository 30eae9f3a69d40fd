"""A check of bf16 on the CPU before training: the run's own generator and discriminator, in fp32 and under bf16
autocast, on a few fixed samples.

bf16 rounding moves G's output by about 1 % and D's gradient with respect to its input (what G learns from) by about
10 % (dcgan and fastgan at 32 to 128 pixels, on an AMD EPYC); the errors are spread evenly over the image. A broken
bf16 kernel (oneDNN's AMX kernels have had shape-dependent bugs that returned wrong rows) moves them by as much as
the values themselves, often in bands of rows or columns, and G then learns the bands as stripes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor, nn

from ganforge.training.hardware import autocast_factory

log = logging.getLogger("ganforge")
MAX_OUTPUT_ERROR = 0.1  # relative error of G's bf16 output (healthy: ≤ 0.012)
MAX_GRADIENT_ERROR = 0.5  # relative error of D's bf16 input gradient (healthy: ≤ 0.13)
MAX_BAND = 5.0  # worst row's (or column's) squared error over the mean row's (healthy: ≤ 1.8)


def _relative(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def _band(error: Tensor) -> float:
    """How much of the squared error one row or one column of the images carries, against the mean one."""
    if error.dim() < 4:
        return 1.0
    square = error.pow(2)
    rows, columns = square.mean(dim=(0, 1, 3)), square.mean(dim=(0, 1, 2))
    return float(max(rows.max() / rows.mean().clamp_min(1e-30), columns.max() / columns.mean().clamp_min(1e-30)))


def bf16_disagreement(generate: Callable[[Tensor], Tensor], judge: Callable[[Tensor], Tensor], z: Tensor,
                      bf16: Callable[[], AbstractContextManager], networks: list[nn.Module]) -> str | None:
    """None when bf16 agrees with fp32 for G(z) and ∂ΣD(x)/∂x, else one sentence of evidence. The `networks` run in
    eval mode for the check (no batch-norm statistics or spectral-norm vectors move) and go back to train mode."""
    results = {}
    for name, context in (("fp32", contextlib.nullcontext), ("bf16", bf16)):
        for network in networks:
            network.eval()
        try:
            with torch.no_grad(), context():
                x = generate(z).float()
            reference = results.get("fp32", (x, None))[0].detach().clone().requires_grad_(True)
            with context():
                score = judge(reference).float().sum()
            (gradient,) = torch.autograd.grad(score, reference)
        finally:
            for network in networks:
                network.train()
        results[name] = (x, gradient)
    (x32, g32), (x16, g16) = results["fp32"], results["bf16"]
    output, gradient, band = _relative(x16, x32), _relative(g16, g32), _band(g16 - g32)
    if not (torch.isfinite(x16).all() and torch.isfinite(g16).all()):
        return "bf16 gave non-finite values where fp32 gave finite ones"
    if output > MAX_OUTPUT_ERROR or gradient > MAX_GRADIENT_ERROR or band > MAX_BAND:
        return (f"under bf16 the generator's output is {output:.0%} off its fp32 value and the discriminator's input "
                f"gradient {gradient:.0%} off (bf16 rounding alone: about 1 % and 10 %), the worst image row or "
                f"column carrying {band:.1f}× the mean error")
    return None


def checked_precision(precision: str, asked: str, task: Any) -> str:
    """`precision` after the bf16 check of a `SampleTask`'s networks on the CPU: `--precision auto` falls back to
    fp32 when bf16 disagrees, and an explicit `--precision bf16` is kept with a warning. With several processes,
    every one trains in rank 0's choice."""
    if precision != "bf16" or task.device.type != "cpu":
        return precision
    return task.processes.share(_checked_bf16(asked, task))


def _checked_bf16(asked: str, task: Any) -> str:
    """bf16, or fp32 when the check fails under `--precision auto`."""
    n = min(8, len(task.fixed_noise))
    labels = None if task.fixed_labels is None else task.fixed_labels[:n].to(task.device)
    z = task.fixed_noise[:n].to(task.device)
    problem = bf16_disagreement(lambda noise: task.generate(task.generator, noise, labels),
                                lambda x: task.judge(x, labels)[0], z, autocast_factory("bf16", task.device),
                                [task.generator, task.discriminator])
    if problem is None:
        return "bf16"
    if asked == "auto":
        log.warning("bf16 disagrees with fp32 on this CPU (%s): training in fp32 instead; its kernels would teach the "
                    "generator their errors (stripes, say)", problem)
        return "fp32"
    log.warning("bf16 disagrees with fp32 on this CPU (%s); --precision bf16 kept as asked, but samples may show the "
                "kernels' errors (stripes, say): --precision fp32 avoids them", problem)
    return "bf16"
