"""Image-to-image translation on public photos, held-out images scored: pix2pix against the same U-Net trained on L1
alone (the pix2pix paper's Table 1 question: does the cGAN term earn its keep?), and CycleGAN between two domains.

`paired`: for each pair task (gray2color, edges2photo) the photos are split by image (every 4th held out); one run
trains pix2pix (GAN + 100·L1) and one the same U-Net and PatchGAN with the GAN term's weight 0 (`--gan-weight 0`:
L1 alone; D still trains, so the compute is equal). Both are scored on the held-out pairs by `ganforge eval`: L1 on
[-1, 1], PSNR and SSIM on Y, and FD and KID of the outputs against the targets as sets (FID Inception, pool
features; a few dozen images, so FD is biased upwards and only comparable within a column).

`unpaired`: CycleGAN from domain A to domain B, both split by image. Scored on held-out images: FD and KID of G(A)
against held-out B beside two references measured in the same run (A untranslated, and the training B: the
floor), and the cycle error |F(G(a)) − a| on [-1, 1].

The photos stay out of the repository: majedelhelou/denoising_datasets holds CBSD68, CUrban100, CSun_Hays80 and
CManga109. The commands behind docs/image2image.md:

    python bench/translation.py paired --photos ~/data/sr/CBSD68 ~/data/sr/CUrban100 ~/data/sr/CSun_Hays80 \\
        --steps 5000 --picture docs/pix2pix.png
    python bench/translation.py unpaired --domain-a ~/data/sr/CBSD68 ~/data/sr/CSun_Hays80 \\
        --domain-b ~/data/sr/CManga109 --steps 3000 --picture docs/cyclegan.png
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from ganforge import api
from ganforge.data.pairs import read_pairs, read_unpaired
from ganforge.features.inception import load_inception
from ganforge.kinds.pair_eval import evaluate_pairs
from ganforge.kinds.pairs import load_translator
from ganforge.metrics.pairs import distribution_scores, pair_scores
from ganforge.training.hardware import cpu_name
from ganforge.training.translation import strip_picture, to_model

HELD_OUT_EVERY = 4  # every 4th photo (in name order) is held out


def split(folders: list[Path], work: Path, name: str) -> tuple[Path, Path]:
    """Links to the photos of `folders` in WORK/NAME-train and WORK/NAME-test, every 4th photo held out."""
    train, test = work / f"{name}-train", work / f"{name}-test"
    train.mkdir()
    test.mkdir()
    photos = sorted((path for folder in folders for path in folder.iterdir() if path.is_file()),
                    key=lambda path: (path.parent.name, path.name))
    for index, path in enumerate(photos):
        into = test if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else train
        (into / f"{path.parent.name}-{path.name}").symlink_to(path.resolve())
    return train, test


def translated(run: Path, inputs: torch.Tensor) -> torch.Tensor:
    """The run's outputs for uint8 inputs, as 8-bit floats."""
    generator, described = load_translator(run)
    torch.manual_seed(described["config"]["seed"])
    with torch.no_grad():
        outputs = torch.cat([generator(to_model(chunk)) for chunk in inputs.split(64)])
    return ((outputs.clamp(-1, 1) + 1) * 127.5).round()


def psnr_rgb(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """PSNR over R, G and B of 8-bit images, per image then averaged (Y alone says nothing of colour)."""
    mse = (outputs.double() - targets.double()).pow(2).flatten(1).mean(1)
    return float((10 * torch.log10(255.0**2 / mse.clamp_min(1e-10))).mean())


def paired(args: argparse.Namespace, work: Path) -> dict:
    train, test = split(args.photos, work, "photos")
    rows, strips = [], []
    inception = load_inception()
    for task in args.tasks:
        columns = []
        if task == "gray2color":  # the reference any colouring must beat: the gray input, unchanged
            pairs = read_pairs(test, args.size, task, args.seed)
            copied, targets = pairs.a.expand(-1, 3, -1, -1).float(), pairs.b.float()
            rows.append({"task": task, "model": "the gray input, unchanged", "pairs": len(pairs),
                         "psnr_rgb": psnr_rgb(copied, targets), **pair_scores(copied, targets),
                         **distribution_scores(inception, copied, targets)})
        for model, weight in (("L1 alone (U-Net)", 0.0), ("pix2pix (GAN + 100·L1)", 1.0)):
            run = work / f"{task}-{weight:g}"
            started = time.perf_counter()
            api.train(data=str(train), out=str(run), task=task, image_size=args.size, steps=args.steps,
                      gan_weight=weight, threads=args.threads, seed=args.seed, progress=False, log_every=500,
                      sample_every=args.steps, checkpoint_every=args.steps)
            seconds = time.perf_counter() - started
            scores = evaluate_pairs(run, test)
            pairs = read_pairs(test, args.size, task, args.seed)
            outputs = translated(run, pairs.a)
            rows.append({"task": task, "model": model, "seconds": seconds, "psnr_rgb": psnr_rgb(outputs, pairs.b),
                         **{key: scores[key] for key in ("pairs", "l1", "psnr_y", "ssim_y", "fd", "kid")}})
            columns.append(outputs[: args.shown])
        pairs = read_pairs(test, args.size, task, args.seed)
        shown = [to_model(pairs.a[: args.shown]), *(to_model(c) for c in columns), to_model(pairs.b[: args.shown])]
        strips.append([images.expand(-1, 3, -1, -1) for images in shown])
    print(f"\nPaired translation, {args.size} px, {args.steps} steps each, batch 4, width 32; held-out photos (every "
          f"{HELD_OUT_EVERY}th of {', '.join(f.name for f in args.photos)}); {cpu_name()}, {args.threads} threads\n")
    print("| task | model | held-out pairs | L1 ↓ | PSNR RGB ↑ | PSNR Y ↑ | SSIM Y ↑ | FD ↓ | KID ↓ | fit |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        fit = f"{row['seconds'] / 60:.0f} min" if "seconds" in row else ""
        print(f"| {row['task']} | {row['model']} | {row['pairs']} | {row['l1']:.3f} | {row['psnr_rgb']:.2f} | "
              f"{row['psnr_y']:.2f} | {row['ssim_y']:.4f} | {row['fd']:.1f} | {row['kid']:.4f} | {fit} |")
    if args.picture:  # per task: input | L1 alone | pix2pix | target, side by side
        strip_picture([torch.cat(column) for column in zip(*strips, strict=True)]).save(args.picture)
    return {"rows": rows}


def unpaired(args: argparse.Namespace, work: Path) -> dict:
    train_a, test_a = split(args.domain_a, work, "a")
    train_b, test_b = split(args.domain_b, work, "b")
    run = work / "cyclegan"
    started = time.perf_counter()
    api.train(data=str(train_a), data_b=str(train_b), out=str(run), task="unpaired", image_size=args.size,
              steps=args.steps, threads=args.threads, seed=args.seed, progress=False, log_every=500,
              sample_every=args.steps, checkpoint_every=args.steps)
    seconds = time.perf_counter() - started
    cycle = evaluate_pairs(run, test_a, ["cycle"])["cycle"]
    held_out = read_unpaired(test_a, test_b, args.size)
    training_b = read_unpaired(train_a, train_b, args.size).b
    outputs = translated(run, held_out.a)
    inception = load_inception()
    target = held_out.b.float()
    rows = [{"model": "domain A untranslated", **distribution_scores(inception, held_out.a.float(), target)},
            {"model": "CycleGAN G(A)", "cycle": cycle, "seconds": seconds,
             **distribution_scores(inception, outputs, target)},
            {"model": "domain B's training images (the floor)",
             **distribution_scores(inception, training_b.float(), target)}]
    names = lambda folders: " + ".join(f.name for f in folders)  # noqa: E731
    print(f"\nUnpaired translation (CycleGAN) {names(args.domain_a)} → {names(args.domain_b)}, {args.size} px, "
          f"{args.steps} steps, batch 1; scored against held-out B ({len(held_out.b)} images, every "
          f"{HELD_OUT_EVERY}th); {cpu_name()}, {args.threads} threads\n")
    print("| images | FD to held-out B ↓ | KID ↓ | cycle error ↓ | fit |")
    print("|---|---|---|---|---|")
    for row in rows:
        cycle_text = f"{row['cycle']:.3f}" if "cycle" in row else ""
        fit = f"{row['seconds'] / 60:.0f} min" if "seconds" in row else ""
        print(f"| {row['model']} | {row['fd']:.1f} | {row['kid']:.4f} | {cycle_text} | {fit} |")
    if args.picture:  # A | G(A), for the first held-out images
        shown = held_out.a[: args.shown]
        strip_picture([to_model(shown), to_model(outputs[: args.shown])]).save(args.picture)
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    one = modes.add_parser("paired", help="pix2pix against L1 alone")
    one.add_argument("--photos", nargs="+", type=Path, required=True, help="folders of photos")
    one.add_argument("--tasks", nargs="+", default=["gray2color", "edges2photo"])
    two = modes.add_parser("unpaired", help="CycleGAN between two domains")
    two.add_argument("--domain-a", nargs="+", type=Path, required=True)
    two.add_argument("--domain-b", nargs="+", type=Path, required=True)
    for mode, steps in ((one, 5000), (two, 3000)):
        mode.add_argument("--steps", type=int, default=steps)
        mode.add_argument("--size", type=int, default=64)
        mode.add_argument("--threads", type=int, default=2)
        mode.add_argument("--seed", type=int, default=0)
        mode.add_argument("--shown", type=int, default=6, help="held-out images in the picture")
        mode.add_argument("--json", type=Path, help="write the rows here")
        mode.add_argument("--picture", type=Path, help="write a strip of held-out images here (PNG)")
        mode.add_argument("--keep", type=Path, help="keep the run folders here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ganforge-translation-"))
    try:
        result = paired(args, work) if args.mode == "paired" else unpaired(args, work)
        if args.json:
            args.json.write_text(json.dumps({"cpu": cpu_name(), "threads": args.threads, "steps": args.steps,
                                             "size": args.size, **result}, indent=2))
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True, symlinks=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
