"""Images/s of a DCGAN training step: ganforge's trainer next to a bare hand-written loop with the same networks.

The difference is the framework's overhead (target ≤ 3 %). Both sides use the same model builder, optimiser,
precision and memory format; the bare loop is the reference DCGAN loop written out by hand. Rounds alternate
between the two so that drifts in machine speed hit both; the table reports the median round.

    python bench/throughput.py                      # 32×32 and 64×64, batch 64, auto precision
    python bench/throughput.py --sizes 64 --precision fp32 bf16 --steps 30
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.config import TrainConfig
from ganforge.data import IMAGE, Codec, Dataset
from ganforge.models import build_models, resolve_options
from ganforge.training.hardware import autocast_factory, pick_device, pick_precision, set_threads
from ganforge.training.run_folder import RunFolder
from ganforge.training.runs import Trainer


def random_images(size: int, n: int = 2048) -> Dataset:
    """Random uint8 images: throughput does not depend on content."""
    samples = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return Dataset(f"random{size}", Codec(IMAGE, (3, size, size)), samples)


def bare_loop(dataset: Dataset, precision: str, batch: int, warmup: int, steps: int) -> float:
    """The reference DCGAN loop by hand; returns images/s over `steps` after `warmup`."""
    device = pick_device("auto")
    torch.manual_seed(0)
    generator, discriminator = build_models("dcgan", dataset.sample_shape, resolve_options("dcgan", "image", {}))
    layout = torch.channels_last
    generator = generator.to(device, memory_format=layout)
    discriminator = discriminator.to(device, memory_format=layout)
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    autocast = autocast_factory(precision, device)
    images = dataset.samples

    def step() -> None:
        index = torch.randint(0, len(images), (batch,))
        real = (images[index].float() / 127.5 - 1).to(device).contiguous(memory_format=layout)
        z = torch.randn(batch, 100, device=device)
        with autocast():
            fake = generator(z)
            d_loss = F.softplus(-discriminator(real).float()).mean() + F.softplus(
                discriminator(fake.detach()).float()).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        discriminator.requires_grad_(False)
        with autocast():
            g_loss = F.softplus(-discriminator(fake).float()).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        discriminator.requires_grad_(True)
        d_loss.item()  # the trainer reads its statistics at each log interval; a bare loop prints them too

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def framework(dataset: Dataset, precision: str, batch: int, warmup: int, steps: int) -> float:
    """ganforge's Trainer on the same data and networks; images/s over `steps` after `warmup`."""
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig(data=dataset.name, precision=precision, batch_size=batch, steps=warmup,
                             log_every=50, sample_every=10**9, checkpoint_every=10**9, out=folder).validate()
        trainer = Trainer(config, dataset, RunFolder(Path(folder)), progress=False)
        trainer.loop.save = lambda: None  # the end-of-run checkpoint is I/O, not step time
        trainer.task.preview = lambda step: None
        trainer.fit()
        trainer.loop.settings.steps = warmup + steps
        start = time.perf_counter()
        trainer.fit()
        if trainer.task.device.type == "cuda":
            torch.cuda.synchronize()
        return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--precision", nargs="+", default=["auto"], choices=["auto", "fp32", "bf16"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = pick_device("auto")
    threads = set_threads(0, device)
    print(f"device {device}, {threads} threads, torch {torch.__version__}, batch {args.batch}, "
          f"{args.rounds} rounds of {args.steps} steps (median)")
    print(f"{'size':>5} {'precision':>9} {'bare img/s':>11} {'ganforge img/s':>15} {'overhead':>9}")
    for size in args.sizes:
        dataset = random_images(size)
        for requested in args.precision:
            precision = pick_precision(requested, device)
            bare, ours = [], []
            for _ in range(args.rounds):
                bare.append(bare_loop(dataset, precision, args.batch, args.warmup, args.steps))
                ours.append(framework(dataset, precision, args.batch, args.warmup, args.steps))
            b, o = statistics.median(bare), statistics.median(ours)
            print(f"{size:>5} {precision:>9} {b:>11.1f} {o:>15.1f} {100 * (b - o) / b:>8.1f}%", flush=True)


if __name__ == "__main__":
    main()
