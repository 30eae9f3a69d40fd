"""Run one small training and kill this process with SIGKILL at a chosen moment (used by test_faults.py).

    python tests/kill_driver.py KIND OUT MOMENT N [TABLE.csv]

KIND: image, vector or table. MOMENT: `start` (as config.json is about to be written: the run folder holds only its
lock and start record), `step` (as the N-th training step begins: the steps since the last checkpoint are lost),
`checkpoint` (half-way through writing the N-th safetensors file of a checkpoint), `grid` (half-way through writing
the N-th sample grid), `metrics` (half-way through the N-th metrics line), or `none` (no planned kill: the test kills
at a random moment after the line "training" appears on stdout).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from PIL import Image

import ganforge
from ganforge.tabular.task import TableTask
from ganforge.training import checkpoint as ckpt
from ganforge.training.run_folder import RunFolder
from ganforge.training.trainer import SampleTask

RUNS = {
    "vector": dict(data="ring", model="mlp", g_width=32, d_width=32, depth=2, batch_size=64, steps=40,
                   checkpoint_every=6, sample_every=5, log_every=3),
    "image": dict(data="digits", image_size=16, g_width=8, d_width=8, latent_dim=16, batch_size=16, steps=16,
                  checkpoint_every=4, sample_every=3, log_every=2),
    "table": dict(epochs=6, batch_size=100, checkpoint_every=2),
}
COMMON = dict(seed=5, threads=1, precision="fp32", progress=False)


def run_options(kind: str, out: str, table: str | None = None) -> dict:
    """The options of this kind's run (the test's uninterrupted reference uses the same)."""
    options = {**RUNS[kind], **COMMON, "out": out}
    if kind == "table":
        options["data"] = table
    return options


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def kill_on_call(owner: object, name: str, n: int, half_write: bool = False) -> None:
    """Replace owner.name so that its n-th call kills the process (after writing half of the file, if asked)."""
    original = getattr(owner, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            if half_write:
                target = next(a for a in args if isinstance(a, str | Path))
                Path(target).write_bytes(b"\0" * 100)  # a file cut short, as a kill mid-write leaves it
            die()
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def main() -> None:
    kind, out, moment, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    table = sys.argv[5] if len(sys.argv) > 5 else None
    step_owner, step_name = (TableTask, "train_step") if kind == "table" else (SampleTask, "train_step")
    original_step = getattr(step_owner, step_name)
    announced = []

    def step(*args, **kwargs):
        if not announced:
            announced.append(True)
            print("training", flush=True)
        return original_step(*args, **kwargs)

    setattr(step_owner, step_name, step)
    if moment == "start":
        kill_on_call(RunFolder, "write_config", n)
    elif moment == "step":
        kill_on_call(step_owner, step_name, n)
    elif moment == "checkpoint":
        kill_on_call(ckpt, "write_safetensors", n, half_write=True)
    elif moment == "grid":
        kill_on_call(Image.Image, "save", n, half_write=True)
    elif moment == "metrics":
        original_append = RunFolder.append_metrics
        calls = [0]

        def append(self, record):
            calls[0] += 1
            if calls[0] == n:
                with self.metrics_path.open("a", encoding="utf-8") as handle:
                    handle.write('{"step": 9999, "d_lo')  # half a line
                die()
            return original_append(self, record)

        RunFolder.append_metrics = append
    ganforge.train(**run_options(kind, out, table))
    print("finished", flush=True)


if __name__ == "__main__":
    main()
