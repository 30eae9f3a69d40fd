"""Images/s of a GAN training step: ganforge's trainer next to a bare hand-written loop with the same networks, and
next to the pytorch/examples DCGAN loop.

- overhead: ganforge against the bare loop (same model builder, optimiser, precision and memory format): the
  framework's cost (target ≤ 3 %);
- × examples: ganforge against the loop of pytorch/examples `dcgan/main.py` written out with the same DCGAN: fp32,
  the default memory layout, D's real and fake halves backpropagated separately and three `.item()` calls a step,
  as that script does (on a GPU the target is ≥ 2×, from bf16 autocast and channels_last);
- TFLOP/s and % peak: the step's floating-point work (counted by torch.utils.flop_counter) per second, against
  `--peak-tflops` (on CUDA by default the GPU's dense bf16 peak when its name is in PEAK_BF16_TFLOPS).
Rounds alternate between the loops so that drifts in machine speed hit all of them; the table reports the median.

    python bench/throughput.py                      # 32×32 and 64×64, batch 64, auto precision
    python bench/throughput.py --sizes 64 --precision fp32 bf16 --steps 30
    python bench/throughput.py --device cuda --sizes 64 --batch 256 --models dcgan fastgan
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ganforge.config import TrainConfig
from ganforge.data import IMAGE, Codec, Dataset
from ganforge.kinds.tensor import Trainer
from ganforge.models import build_models, resolve_options
from ganforge.models.fastgan import reconstructing
from ganforge.training.hardware import autocast_factory, pick_device, pick_precision, set_threads
from ganforge.training.run_folder import RunFolder

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "4090": 165.0}


def random_images(size: int, n: int = 2048) -> Dataset:
    """Random uint8 images: throughput does not depend on content."""
    samples = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return Dataset(f"random{size}", Codec(IMAGE, (3, size, size)), samples)


def _timed(step, device: torch.device, batch: int, warmup: int, steps: int) -> float:
    """Images/s of `step()` over `steps` calls after `warmup`."""
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


def examples_loop(dataset: Dataset, device: torch.device, batch: int, warmup: int, steps: int) -> float:
    """The training loop of pytorch/examples dcgan/main.py with the same DCGAN (D's logit through a sigmoid and
    BCELoss, as there); images/s."""
    torch.manual_seed(0)
    generator, discriminator = build_models("dcgan", dataset.sample_shape, resolve_options("dcgan", "image", {}))
    generator, discriminator = generator.to(device), discriminator.to(device)
    criterion = torch.nn.BCELoss()
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    images = dataset.samples

    def step() -> None:
        index = torch.randint(0, len(images), (batch,))
        real = (images[index].float() / 127.5 - 1).to(device)
        discriminator.zero_grad()
        label = torch.full((batch,), 1.0, device=device)
        output = torch.sigmoid(discriminator(real))
        error_real = criterion(output, label)
        error_real.backward()
        d_x = output.mean().item()
        fake = generator(torch.randn(batch, 100, device=device))
        label.fill_(0.0)
        output = torch.sigmoid(discriminator(fake.detach()))
        error_fake = criterion(output, label)
        error_fake.backward()
        d_g_z1 = output.mean().item()
        opt_d.step()
        generator.zero_grad()
        label.fill_(1.0)
        output = torch.sigmoid(discriminator(fake))
        criterion(output, label).backward()
        d_g_z2 = output.mean().item()
        opt_g.step()
        assert d_x == d_x and d_g_z1 == d_g_z1 and d_g_z2 == d_g_z2  # printed each step there

    return _timed(step, device, batch, warmup, steps)


def _bare_step(model: str, dataset: Dataset, device: torch.device, precision: str, batch: int):
    """One step of the bare loop for `model` (and the step's networks), ready to time or count."""
    torch.manual_seed(0)
    options = resolve_options(model, "image", {})
    generator, discriminator = build_models(model, dataset.sample_shape, options)
    latent = options["latent_dim"]
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
        z = torch.randn(batch, latent, device=device)
        with autocast():
            fake = generator(z)
            with reconstructing(discriminator) as reconstruction:  # fastgan's self-supervision, as the trainer does
                real_logits = discriminator(real)
            d_loss = F.softplus(-real_logits.float()).mean() + F.softplus(
                discriminator(fake.detach()).float()).mean() + sum(reconstruction)
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

    return step


def bare_loop(model: str, dataset: Dataset, device: torch.device, precision: str, batch: int, warmup: int,
              steps: int) -> float:
    """The reference loop by hand for `model`; returns images/s over `steps` after `warmup`."""
    return _timed(_bare_step(model, dataset, device, precision, batch), device, batch, warmup, steps)


def step_flops(model: str, dataset: Dataset, device: torch.device, precision: str, batch: int) -> float:
    """Floating-point operations of one training step (forward and backward passes of G and D)."""
    step = _bare_step(model, dataset, device, precision, batch)
    step()
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def framework(model: str, dataset: Dataset, device: torch.device, precision: str, batch: int, warmup: int,
              steps: int) -> float:
    """ganforge's Trainer on the same data and networks; images/s over `steps` after `warmup`."""
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig(data=dataset.name, model=model, precision=precision, batch_size=batch, steps=warmup,
                             device=device.type, augment_p="off", log_every=50, sample_every=10**9,
                             checkpoint_every=10**9, out=folder).validate()
        trainer = Trainer(config, dataset, RunFolder(Path(folder)), progress=False)
        trainer.loop.save = lambda: None  # the end-of-run checkpoint is I/O, not step time
        trainer.task.preview = lambda step: None
        trainer.task.sinks = None  # no run folder here: no report
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
    parser.add_argument("--models", nargs="+", default=["dcgan"], choices=["dcgan", "fastgan"])
    parser.add_argument("--precision", nargs="+", default=["auto"], choices=["auto", "fp32", "bf16"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak for the precision measured (default on CUDA: its bf16 peak)")
    args = parser.parse_args()
    device = pick_device(args.device)
    threads = set_threads(0, device)
    peak = args.peak_tflops
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    if peak is None and device.type == "cuda":
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    print(f"device {device} ({name}), {threads} threads, torch {torch.__version__}, batch {args.batch}, "
          f"{args.rounds} rounds of {args.steps} steps (median); peak {peak or 'unknown'} TFLOP/s")
    print(f"{'size':>5} {'model':>8} {'precision':>9} {'examples img/s':>15} {'bare img/s':>11} "
          f"{'ganforge img/s':>15} {'overhead':>9} {'× examples':>11} {'TFLOP/s':>8} {'% peak':>7}")
    for size in args.sizes:
        dataset = random_images(size)
        for model in args.models:
            for requested in args.precision:
                precision = pick_precision(requested, device)
                examples, bare, ours = [], [], []
                for _ in range(args.rounds):
                    if model == "dcgan":
                        examples.append(examples_loop(dataset, device, args.batch, args.warmup, args.steps))
                    bare.append(bare_loop(model, dataset, device, precision, args.batch, args.warmup, args.steps))
                    ours.append(framework(model, dataset, device, precision, args.batch, args.warmup, args.steps))
                b, o = statistics.median(bare), statistics.median(ours)
                e = statistics.median(examples) if examples else None
                tflops = step_flops(model, dataset, device, precision, args.batch) / args.batch * o / 1e12
                print(f"{size:>5} {model:>8} {precision:>9} {f'{e:.1f}' if e else '—':>15} {b:>11.1f} {o:>15.1f} "
                      f"{100 * (b - o) / b:>8.1f}% {f'{o / e:.2f}×' if e else '—':>11} {tflops:>8.3f} "
                      f"{f'{100 * tflops / peak:.1f}%' if peak else '—':>7}", flush=True)


if __name__ == "__main__":
    main()
