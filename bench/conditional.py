"""Conditional GANs on scikit-learn's digits: classification accuracy score, class fidelity and per-class Fréchet
distance for each conditioning method, and the data-augmentation use (10 real digits per class, plus generated ones).

The split is scikit-learn's own digits example (first half train, second half test: 898 / 899 images); the GAN sees
only the first half. Digits are classified at the resolution the GAN makes (32×32, resized as ganforge resizes
digits) by `SVC(gamma="scale")`:
- real ceiling: the SVC trained on the first half, tested on the second (measured in the same run);
- CAS: the same SVC trained on 2,000 generated digits (200 per class), tested on the second half;
- class fidelity: the real-trained SVC's accuracy on those 2,000 generated digits, against the class asked for;
- intra-FD: the Fréchet distance in the shipped digit classifier's features between generated and held-out real
  digits of each class, averaged over the classes.
Augmentation: a GAN trained on 10 real digits per class; an SVC on those 100 alone beside one on the 100 plus
generated digits, both tested on the 899.

Each GAN: 5,000 steps of the DCGAN defaults with the method given, generator EMA 0.999, and the checkpoint with the
lowest intra-FD against the training half (evaluated every 500 steps) kept, as `--eval-every 500 --eval-metrics
intra-fd --best-metric intra_fd` does for any run.

    python bench/conditional.py                   # the table in bench/RESULTS.md (about 85 minutes on 2 cores)
    python bench/conditional.py --methods cbn-proj --seeds 0 --steps 1000 --skip-augment   # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.svm import SVC

from ganforge import api
from ganforge.data import load_dataset
from ganforge.features import get_extractor
from ganforge.metrics.conditional import per_class_frechet
from ganforge.training.hardware import cpu_name

GENERATED_PER_CLASS = 200


def split_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """32×32 digits in [0, 1] as ganforge makes them, split as scikit-learn's example does (no shuffle)."""
    images = load_dataset("digits").samples[:, 0].numpy()  # uint8 (1797, 32, 32), resized bilinearly from 8×8
    labels = load_digits().target
    half = len(images) // 2
    return images[:half], labels[:half], images[half:], labels[half:]


def svc_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> tuple[float, SVC]:
    """Accuracy of SVC(gamma="scale") trained on flattened [0, 1] images."""
    model = SVC(gamma="scale").fit(flat(train_x), train_y)
    return float((model.predict(flat(test_x)) == test_y).mean()), model


def flat(images: np.ndarray) -> np.ndarray:
    """uint8 or [0, 1] images → (N, H·W) floats in [0, 1]."""
    array = images.astype(np.float64)
    if images.dtype == np.uint8:
        array /= 255.0
    return array.reshape(len(array), -1)


def train_gan(images: np.ndarray, labels: np.ndarray, out: Path, method: str, seed: int, steps: int,
              extra: dict, select_every: int = 0) -> api.TrainedGenerator:
    """Train a conditional GAN on (images, labels) saved as an .npz with `y`, and load its generator. With
    `select_every`, the checkpoint with the lowest intra-FD against the training images (evaluated that often while
    training; the test half is never looked at) is the one loaded."""
    data = out.with_suffix(".npz")
    np.savez(data, x=images, y=labels)
    selection = {"eval_every": select_every, "eval_metrics": "intra-fd", "eval_features": "digits",
                 "best_metric": "intra_fd"} if select_every else {}
    api.train(str(data), out=str(out), steps=steps, cond=method, seed=seed, progress=False, log_every=100,
              sample_every=steps, checkpoint_every=steps, **selection, **extra)
    return api.load(out, checkpoint="best" if select_every else None)


def generated_digits(generator: api.TrainedGenerator, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` generated digits of each class, as (N, 32, 32) in [0, 1], with the class asked for."""
    labels = torch.arange(10).repeat_interleave(per_class)
    images = generator.sample(len(labels), seed=seed, label=labels)[:, 0].numpy()
    return images, labels.numpy()


def intra_fd(fake: np.ndarray, fake_y: np.ndarray, real: np.ndarray, real_y: np.ndarray) -> float:
    """Mean over classes of the Fréchet distance in the digit classifier's features."""
    extractor = get_extractor("digits")
    with torch.no_grad():
        fake_features = extractor(torch.from_numpy(fake).float()[:, None])[0]
        real_features = extractor(torch.from_numpy(flat(real).reshape(real.shape)).float()[:, None])[0]
    values = per_class_frechet(real_features, torch.from_numpy(real_y), fake_features, torch.from_numpy(fake_y), 10)
    return float(statistics.mean(values.values()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="cbn-proj,acgan,concat")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=5000, help="training steps of each GAN on the 898 digits")
    parser.add_argument("--augment-steps", type=int, default=3000, help="training steps on the 100 digits")
    parser.add_argument("--skip-augment", action="store_true")
    parser.add_argument("--only-augment", action="store_true", help="measure the augmentation use alone")
    parser.add_argument("--select-every", type=int, default=500,
                        help="evaluate intra-FD on the training half this often and keep the best checkpoint (0: the "
                             "last checkpoint)")
    parser.add_argument("--options", default='{"ema": 0.999}',
                        help="JSON of extra `ganforge train` options for every GAN")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    methods, seeds = args.methods.split(","), [int(s) for s in args.seeds.split(",")]
    extra = json.loads(args.options)

    train_x, train_y, test_x, test_y = split_digits()
    ceiling, real_svc = svc_accuracy(train_x, train_y, test_x, test_y)
    print(f"# {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"real ceiling: SVC on the first half ({len(train_x)}), tested on the second ({len(test_x)}): {ceiling:.3f}")
    print(f"steps per GAN {args.steps}, options {extra or 'defaults'}"
          + (f", best checkpoint by intra-FD on the training half every {args.select_every} steps"
             if args.select_every else ", last checkpoint"), flush=True)
    rows: dict[str, list[dict]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for method in [] if args.only_augment else methods:
            for seed in seeds:
                start = time.perf_counter()
                generator = train_gan(train_x, train_y, Path(tmp) / f"{method}-{seed}", method, seed, args.steps,
                                      extra, args.select_every)
                minutes = (time.perf_counter() - start) / 60
                fake, fake_y = generated_digits(generator, GENERATED_PER_CLASS, seed)
                cas, _ = svc_accuracy(fake, fake_y, test_x, test_y)
                fidelity = float((real_svc.predict(flat(fake)) == fake_y).mean())
                row = {"seed": seed, "cas": cas, "fidelity": fidelity, "minutes": minutes,
                       "intra_fd": intra_fd(fake, fake_y, test_x, test_y)}
                rows[method].append(row)
                print(f"  {method:<9} seed {seed}: CAS {cas:.3f}  fidelity {fidelity:.3f}  intra-FD "
                      f"{row['intra_fd']:.2f}  {minutes:.1f} min", flush=True)

        print("\n| method | CAS | class fidelity | intra-FD (digit features) | minutes per seed |")
        print("|---|---:|---:|---:|---:|")
        print(f"| real data (ceiling) | {ceiling:.3f} | — | — | — |")
        for method, results in rows.items() if not args.only_augment else ():
            cells = []
            for key in ("cas", "fidelity", "intra_fd", "minutes"):
                values = [r[key] for r in results]
                spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
                cells.append(f"{statistics.mean(values):.3f}{spread}" if key != "minutes"
                             else f"{statistics.mean(values):.1f}")
            print(f"| {method} | " + " | ".join(cells) + " |")

        augment = []
        if not args.skip_augment:
            print(f"\naugmentation: 10 real digits per class, GAN {args.augment_steps} steps ({methods[0]})")
            for seed in seeds:
                rng = np.random.default_rng(seed)
                few = np.concatenate([rng.choice(np.flatnonzero(train_y == c), 10, replace=False) for c in range(10)])
                alone, _ = svc_accuracy(train_x[few], train_y[few], test_x, test_y)
                generator = train_gan(train_x[few], train_y[few], Path(tmp) / f"few-{seed}", methods[0], seed,
                                      args.augment_steps, extra, args.select_every)
                fake, fake_y = generated_digits(generator, GENERATED_PER_CLASS, seed)
                mixed_x = np.concatenate([flat(train_x[few]), flat(fake)])
                mixed_y = np.concatenate([train_y[few], fake_y])
                model = SVC(gamma="scale").fit(mixed_x, mixed_y)
                together = float((model.predict(flat(test_x)) == test_y).mean())
                augment.append({"seed": seed, "real_only": alone, "real_plus_generated": together})
                print(f"  seed {seed}: 100 real {alone:.3f}, 100 real + {len(fake)} generated {together:.3f} "
                      f"({together - alone:+.3f})", flush=True)
            gains = [a["real_plus_generated"] - a["real_only"] for a in augment]
            print(f"| 100 real digits | {statistics.mean(a['real_only'] for a in augment):.3f} |")
            print(f"| 100 real + {10 * GENERATED_PER_CLASS} generated | "
                  f"{statistics.mean(a['real_plus_generated'] for a in augment):.3f} |")
            print(f"gain {statistics.mean(gains):+.3f} (per seed: {', '.join(f'{g:+.3f}' for g in gains)})")
    if args.json:
        args.json.write_text(json.dumps({"ceiling": ceiling, "methods": rows, "augment": augment,
                                         "steps": args.steps, "options": extra}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
