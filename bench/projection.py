"""Editing real photos: how well `ganforge project` inverts faces the generator never saw, on the Olivetti faces.

The 400 faces (40 people, 10 photos each) are split by person: the last `--held-out-people` people are held out.
One run trains the photo model (`--model auto`: fastgan + ADA) on the others for `--steps` steps. Then
`kinds.projection.project` (best of 64 random latents, 300 Adam steps on the MSE at full and half size) inverts the
held-out faces and as many training faces, and the table gives PSNR on [0, 1] pixels beside two references measured
in the same run: the mean training face, and the training face nearest to each photo (what looking the photo up in
the training set gives). A morph strip walks the latent path between two projected held-out faces, the photos at its
ends, as `ganforge interpolate --from-image --to-image` does.

The faces stay out of the repository (olivettifaces.mat, the file scikit-learn's `fetch_olivetti_faces` downloads;
a public copy is in sjgershm/DBM):

    python bench/photos.py --make-olivetti olivettifaces.mat --to ~/data/olivetti
    python bench/projection.py --faces ~/data/olivetti --steps 1800 --picture docs/projection.png
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from ganforge import api
from ganforge.kinds.generator import load
from ganforge.kinds.projection import morph, project, read_photos
from ganforge.training.hardware import cpu_name

PHOTOS_PER_PERSON = 10


def psnr(images: torch.Tensor, photos: torch.Tensor) -> list[float]:
    """PSNR of each image against its photo, both in [0, 1]."""
    mse = (images - photos).pow(2).flatten(1).mean(1)
    return [10 * math.log10(1 / m) for m in mse.clamp_min(1e-10).tolist()]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, required=True, help="the 400 Olivetti faces as face_000.png ...")
    parser.add_argument("--steps", type=int, default=1800, help="training steps (1,800: about 15 min on 2 cores)")
    parser.add_argument("--held-out-people", type=int, default=4)
    parser.add_argument("--projection-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--picture", type=Path, help="photos | projections, and a morph strip (PNG)")
    parser.add_argument("--keep", type=Path, help="keep the run folder here")
    args = parser.parse_args()

    files = sorted(args.faces.glob("face_*.png"))
    cut = len(files) - args.held_out_people * PHOTOS_PER_PERSON
    train_files, held_files = files[:cut], files[cut:]
    work = Path(tempfile.mkdtemp(prefix="ganforge-projection-"))
    try:
        faces = work / "faces"
        faces.mkdir()
        for file in train_files:
            (faces / file.name).symlink_to(file.resolve())
        started = time.perf_counter()
        api.train(data=str(faces), out=str(work / "run"), model="auto", steps=args.steps, threads=args.threads,
                  seed=args.seed, progress=False, log_every=200, sample_every=args.steps,
                  checkpoint_every=args.steps)
        fit = time.perf_counter() - started
        generator = load(work / "run", device="cpu")
        training = read_photos(train_files, generator)
        picked = torch.arange(0, len(training), max(1, len(training) // len(held_files)))[: len(held_files)]
        rows, found = [], {}
        for name, photos in (("held-out people", read_photos(held_files, generator)),
                             ("training faces", training[picked])):
            started = time.perf_counter()
            result = project(generator, photos, steps=args.projection_steps, seed=args.seed)
            seconds = (time.perf_counter() - started) / len(photos)
            distances = torch.cdist(photos.flatten(1), training.flatten(1))
            if name == "training faces":  # a photo's nearest training face is itself: take the next one
                distances[torch.arange(len(picked)), picked] = float("inf")
            nearest = training[distances.argmin(1)]
            average = training.mean(0, keepdim=True).expand_as(photos)
            rows.append({"photos": name, "n": len(photos), "projection": mean(result.psnr),
                         "nearest_training_face": mean(psnr(nearest, photos)),
                         "mean_face": mean(psnr(average, photos)), "seconds_per_photo": seconds})
            found[name] = (photos, result)
        print(f"\nProjection into the photo model (fastgan + ADA, {args.steps} steps, {fit / 60:.0f} min) trained on "
              f"{len(train_files)} Olivetti faces; {args.projection_steps} projection steps; PSNR in dB on [0, 1] "
              f"pixels, mean over photos; {cpu_name()}, {args.threads} threads\n")
        print("| photos | n | projection | nearest other training face | mean training face | s / photo |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['photos']} | {row['n']} | {row['projection']:.2f} | {row['nearest_training_face']:.2f} | "
                  f"{row['mean_face']:.2f} | {row['seconds_per_photo']:.1f} |")
        if args.json:
            args.json.write_text(json.dumps({"cpu": cpu_name(), "steps": args.steps, "fit_seconds": fit,
                                             "rows": rows}, indent=2))
        if args.picture:
            photos, result = found["held-out people"]
            shown = 8
            spread = torch.arange(0, len(photos), max(1, len(photos) // shown))[:shown]  # across the people
            pairs = torch.cat([torch.cat(list(photos[spread]), 2), torch.cat(list(result.images[spread]), 2)], 1)
            first, last = 0, PHOTOS_PER_PERSON  # two different held-out people
            walk = morph(generator, result.latents[first], result.latents[last], shown - 2).cpu()
            strip = torch.cat([photos[first], *walk, photos[last]], 2)
            sheet = torch.cat([pairs, strip], 1).clamp(0, 1)
            pixels = (sheet * 255).round().byte()
            mode = "L" if pixels.shape[0] == 1 else "RGB"
            array = pixels[0].numpy() if mode == "L" else pixels.permute(1, 2, 0).numpy()
            Image.fromarray(array, mode).resize((array.shape[1] * 2, array.shape[0] * 2), Image.NEAREST) \
                .save(args.picture)
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True, symlinks=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
