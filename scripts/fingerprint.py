"""Behaviour fingerprint of ganforge: train four tiny runs and hash what they leave, to show a refactor kept behaviour.

The runs cover the main paths of training (each on the CPU with one thread, fp32, a fixed seed and a few steps):

- `digits`: a DCGAN on the built-in digits at 16×16;
- `fastgan_ada`: a class-conditional fastgan with adaptive augmentation (ADA) on a folder of synthetic shapes,
  three class subfolders of twelve 32×32 RGB PNGs drawn here;
- `ring`: an MLP GAN on the ring of 8 Gaussians;
- `table`: a table GAN fitted to a mixed CSV (numeric and categorical columns) written here.

For each run the JSON written records SHA-256 hashes of every tensor of the final weights (the last checkpoint's
`models.safetensors`; tables: `model/table_model.safetensors`), of the `metrics.jsonl` records without their wall-clock
keys, and of samples drawn with a fixed seed (`ganforge.load(run).sample(64, seed=0)`; tables: 200 rows as CSV):

    {run_name: {"weights": {tensor_name: sha}, "metrics": sha, "samples": sha}}

Only the public API is used (`ganforge.train`, `ganforge.load`, the table model loader that `ganforge.load` names
for table runs) besides reading files in the run folders, so the same script fingerprints any checkout: put its
`src` first on the path. The whole script takes a few minutes on 2 cores.

Usage:

    PYTHONPATH=/path/to/checkout/src python scripts/fingerprint.py --out before.json --work /tmp/fp_before
    python scripts/fingerprint.py --compare before.json after.json     # exit status 1 if anything differs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

Fingerprint = dict[str, Any]

# Keys of metrics.jsonl records that measure wall-clock time, not behaviour (removed at any depth before hashing).
TIMING_KEYS = frozenset({"seconds", "sec_per_step", "samples_per_sec", "fit_seconds"})
COMMON = {"seed": 0, "threads": 1, "precision": "fp32", "device": "cpu"}
IMAGE_SAMPLES, TABLE_SAMPLES = 64, 200
SHAPES, COLOURS = ("circle", "square", "triangle"), ((220, 40, 40), (40, 170, 60), (50, 80, 220), (230, 190, 30))
IMAGES_PER_CLASS, FOLDER_SIZE = 12, 32
TABLE_ROWS, CITIES, PLANS = 200, ("Lyon", "Oslo", "Porto", "Tunis"), ("basic", "plus", "pro")


# ----- data made here -------------------------------------------------------------------------------------------
def shape_image(shape: str, index: int) -> np.ndarray:
    """A 32×32 RGB image of `shape`, its colour, size, position and background set by `index` (no randomness)."""
    n = FOLDER_SIZE
    colour = np.array(COLOURS[index % len(COLOURS)], dtype=np.uint8)
    background = np.array([245 - 9 * (index % 5), 240 - 7 * (index % 3), 235], dtype=np.uint8)
    radius = 6 + index % 4
    cx, cy = 10 + (3 * index) % 12, 10 + (5 * index) % 12
    yy, xx = np.mgrid[0:n, 0:n]
    if shape == "circle":
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    elif shape == "square":
        inside = (abs(xx - cx) <= radius) & (abs(yy - cy) <= radius)
    else:  # an upward triangle: apex at the top, base at the bottom
        inside = (yy >= cy - radius) & (yy <= cy + radius) & (2 * abs(xx - cx) <= yy - (cy - radius))
    image = np.empty((n, n, 3), dtype=np.uint8)
    image[:] = background
    image[inside] = colour
    return image


def write_shape_folder(folder: Path) -> Path:
    """Class subfolders `circle/`, `square/`, `triangle/` of 12 PNGs each."""
    for shape in SHAPES:
        (folder / shape).mkdir(parents=True)
        for index in range(IMAGES_PER_CLASS):
            Image.fromarray(shape_image(shape, index), mode="RGB").save(folder / shape / f"{index:02d}.png")
    return folder


def write_table(path: Path) -> Path:
    """A 200-row CSV: integer `age`, float `income`, categorical `city` and `plan`, a yes/no `churned`."""
    rng = np.random.default_rng(0)
    ages = rng.integers(18, 80, TABLE_ROWS)
    cities = rng.integers(0, len(CITIES), TABLE_ROWS)
    plans = rng.integers(0, len(PLANS), TABLE_ROWS)
    incomes = 1500 + 40 * ages + 600 * plans + rng.normal(0, 300, TABLE_ROWS)
    churned = (rng.random(TABLE_ROWS) < 0.2 + 0.15 * (plans == 0)).astype(int)
    lines = ["age,income,city,plan,churned"]
    lines += [f"{ages[i]},{incomes[i]:.2f},{CITIES[cities[i]]},{PLANS[plans[i]]},{('no', 'yes')[churned[i]]}"
              for i in range(TABLE_ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ----- hashing what a run leaves ------------------------------------------------------------------------------------
def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tensor_hashes(path: Path) -> dict[str, str]:
    """SHA-256 of each tensor in a safetensors file (its dtype, shape and raw bytes), read straight from the file."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    data = raw[8 + length :]
    hashes = {}
    for name, entry in sorted(header.items()):
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        described = f"{entry['dtype']}{entry['shape']}".encode()
        hashes[name] = sha256(described + b"\0" + data[start:end])
    return hashes


def without_timing(value: Any) -> Any:
    """`value` with the wall-clock keys removed from every dict in it."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def metrics_records(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def metrics_hash(run: Path) -> str:
    """SHA-256 of the run's metrics records without timing keys (keys sorted, so their order does not count)."""
    records = [without_timing(record) for record in metrics_records(run)]
    return sha256("\n".join(json.dumps(r, sort_keys=True) for r in records).encode())


def final_checkpoint(run: Path, steps: int) -> Path:
    """The run's checkpoint at its last step (`checkpoints/step_NNNNNN`), refusing a run that stopped early."""
    found = sorted(run.glob("checkpoints/step_*/models.safetensors"), key=lambda p: int(p.parent.name[5:]))
    if not found or int(found[-1].parent.name[5:]) != steps:
        raise SystemExit(f"{run}: no checkpoint at step {steps} (found {[p.parent.name for p in found]})")
    return found[-1]


def image_fingerprint(run: Path, steps: int) -> Fingerprint:
    import ganforge

    samples = ganforge.load(run, device="cpu").sample(IMAGE_SAMPLES, seed=0).contiguous().numpy()
    described = f"{samples.dtype}{list(samples.shape)}".encode()
    return {"weights": tensor_hashes(final_checkpoint(run, steps)), "metrics": metrics_hash(run),
            "samples": sha256(described + b"\0" + samples.tobytes())}


def table_fingerprint(run: Path) -> Fingerprint:
    from ganforge.tabular.run import load_table_run  # what ganforge.load names for table runs

    rows = load_table_run(run).sample(TABLE_SAMPLES, seed=0)
    return {"weights": tensor_hashes(run / "model" / "table_model.safetensors"), "metrics": metrics_hash(run),
            "samples": sha256(rows.to_csv(index=False).encode())}


# ----- the runs -----------------------------------------------------------------------------------------------------
def train(out: Path, **options: Any) -> Path:
    import ganforge

    started = time.perf_counter()
    result = ganforge.train(out=str(out), progress=False, **COMMON, **options)
    print(f"  {out.name}: trained in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return Path(result.run_dir)


def run_digits(work: Path) -> Fingerprint:
    steps = 40
    run = train(work / "digits", data="digits", model="dcgan", image_size=16, g_width=8, d_width=8, latent_dim=16,
                batch_size=16, steps=steps, log_every=10)
    return image_fingerprint(run, steps)


def run_fastgan_ada(work: Path) -> Fingerprint:
    steps = 32  # ADA adjusts p every 4 steps
    folder = write_shape_folder(work / "shapes")
    run = train(work / "fastgan_ada", data=str(folder), model="fastgan", image_size=32, g_width=4, d_width=4,
                latent_dim=16, batch_size=8, augment_p="ada", steps=steps, log_every=4)
    stored = json.loads((run / "config.json").read_text(encoding="utf-8"))
    conditional = stored["model"].get("conditional") or {}
    if conditional.get("classes") != len(SHAPES):
        raise SystemExit(f"{run}: expected a conditional run of {len(SHAPES)} classes, config.json has {conditional}")
    p = [record["augment_p"] for record in metrics_records(run) if "augment_p" in record]
    if stored["config"].get("augment_p") != "ada" or not p:
        raise SystemExit(f"{run}: adaptive augmentation is not on (config augment_p "
                         f"{stored['config'].get('augment_p')!r}, no augment_p in metrics.jsonl)")
    print(f"  {run.name}: conditional on {conditional['classes']} classes; ADA p over the run: "
          f"{', '.join(f'{v:.5f}' for v in p)}", file=sys.stderr)
    return image_fingerprint(run, steps)


def run_ring(work: Path) -> Fingerprint:
    steps = 200
    run = train(work / "ring", data="ring", model="mlp", g_width=32, d_width=32, steps=steps, log_every=50)
    return image_fingerprint(run, steps)


def run_table(work: Path) -> Fingerprint:
    csv = write_table(work / "table.csv")
    run = train(work / "table", data=str(csv), epochs=3, batch_size=100)
    return table_fingerprint(run)


RUNS: dict[str, Callable[[Path], Fingerprint]] = {"digits": run_digits, "fastgan_ada": run_fastgan_ada,
                                                  "ring": run_ring, "table": run_table}


def fingerprint(out: Path, work: Path) -> None:
    """Train every run under `work` and write their fingerprint to `out`."""
    import ganforge

    if work.exists() and any(work.iterdir()):
        raise SystemExit(f"--work {work} is not empty; give a new or empty folder")
    work.mkdir(parents=True, exist_ok=True)
    print(f"ganforge {ganforge.__version__} from {Path(ganforge.__file__).parent}", file=sys.stderr)
    started = time.perf_counter()
    result = {name: make(work) for name, make in RUNS.items()}
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out} in {time.perf_counter() - started:.1f} s", file=sys.stderr)


# ----- comparing two fingerprints -------------------------------------------------------------------------------
def compare(a_path: Path, b_path: Path) -> int:
    """Print one row per run and item, identical or DIFFERENT; 1 if anything differs, else 0."""
    a, b = (json.loads(path.read_text(encoding="utf-8")) for path in (a_path, b_path))
    rows: list[tuple[str, str, str]] = []
    for run in sorted(set(a) | set(b)):
        if run not in a or run not in b:
            rows.append((run, "*", f"DIFFERENT (only in {a_path if run in a else b_path})"))
            continue
        for item in ("weights", "metrics", "samples"):
            left, right = a[run].get(item), b[run].get(item)
            if left == right:
                verdict = "identical"
            elif isinstance(left, dict) and isinstance(right, dict):
                names = sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))
                shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
                verdict = f"DIFFERENT ({len(names)} of {len(set(left) | set(right))} tensors: {shown})"
            else:
                verdict = "DIFFERENT"
            rows.append((run, item, verdict))
    width = max(len(run) for run, _, _ in rows)
    print(f"{'run':<{width}}  {'item':<8}  result")
    for run, item, verdict in rows:
        print(f"{run:<{width}}  {item:<8}  {verdict}")
    return 1 if any(verdict != "identical" for _, _, verdict in rows) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="fingerprint JSON to write")
    parser.add_argument("--work", type=Path, help="new or empty scratch folder for the data and run folders")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("A.json", "B.json"),
                        help="compare two fingerprints instead of making one")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    if args.out is None or args.work is None:
        parser.error("give --out and --work (or --compare A.json B.json)")
    fingerprint(args.out, args.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
