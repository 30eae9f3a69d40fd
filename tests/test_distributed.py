"""Several processes (torchrun, gloo on the CPU): the ranks stay identical, N ranks × batch B take the steps of one
process with batch N·B, a multi-process run resumes exactly, and a stop on any rank stops all at one step.

Each test starts one torchrun job of two single-threaded processes at a time (the suite never runs trainings
that compete for the cores)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

DRIVER = Path(__file__).with_name("ddp_driver.py")
TINY = ["--data", "digits", "--image-size", "16", "--g-width", "8", "--d-width", "8", "--latent-dim", "16",
        "--threads", "1", "--log-every", "2", "--sample-every", "1000", "--quiet", "--device", "cpu", "--precision",
        "fp32"]

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")


def _run(dump: Path, args: list[str], processes: int = 2, env: dict | None = None, wait: bool = True):
    """The driver under torchrun with `processes` ranks (or alone with 1); returns the finished process."""
    dump.mkdir(parents=True, exist_ok=True)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"] \
        if processes > 1 else [sys.executable]
    command = [*launcher, str(DRIVER), str(dump), *args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    if not wait:
        return subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _weights(dump: Path, rank: int) -> dict[str, torch.Tensor]:
    return load_file(dump / f"rank{rank}.safetensors")


def test_ranks_keep_identical_weights_and_ema(tmp_path):
    # batch norm in both networks, EMA, and augmentation that differs between the ranks (ADA at a fixed p)
    _run(tmp_path / "dump", [*TINY, "--steps", "6", "--batch-size", "8", "--ema", "0.9", "--augment-p", "0.5",
                             "--out", str(tmp_path / "run")])
    first, second = _weights(tmp_path / "dump", 0), _weights(tmp_path / "dump", 1)
    assert set(first) == set(second)
    assert any(k.startswith("generator_ema.") for k in first)
    start = load_file(tmp_path / "run" / "checkpoints" / "step_000000" / "models.safetensors") \
        if (tmp_path / "run" / "checkpoints" / "step_000000" / "models.safetensors").exists() else None
    for key in first:
        assert torch.equal(first[key], second[key]), key
    if start is not None:  # the ranks trained: the weights moved from step 0
        moved = [k for k in start if k in first and not torch.equal(start[k], first[k])]
        assert moved
    # rank 0 alone wrote the run folder; its log counts the images of both ranks
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "d_loss" in r] == [2, 4, 6]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["batch_size"] == 8


def test_a_sequence_run_with_lengths_and_attributes_keeps_its_ranks_identical(tmp_path):
    # series of 3 to 8 steps with a category and a number per series: presence, attributes and their shares
    rows = ["patient,day,ward,age,heart"]
    for patient in range(40):
        rows += [f"p{patient},{day},{'abc'[patient % 3]},{20 + patient},{day * 0.1 + patient % 3:.2f}"
                 for day in range(3 + patient % 6)]
    (tmp_path / "visits.csv").write_text("\n".join(rows) + "\n")
    _run(tmp_path / "dump", ["--data", str(tmp_path / "visits.csv"), "--id-column", "patient", "--time-column", "day",
                             "--static-columns", "ward,age", "--model", "sequence", "--g-width", "16", "--d-width",
                             "16", "--latent-dim", "16", "--batch-size", "8", "--steps", "6", "--threads", "1",
                             "--log-every", "2", "--sample-every", "1000", "--device", "cpu", "--precision", "fp32",
                             "--quiet", "--out", str(tmp_path / "run")])
    first, second = _weights(tmp_path / "dump", 0), _weights(tmp_path / "dump", 1)
    assert any(k.startswith("generator.attributes.") for k in first) and set(first) == set(second)
    for key in first:
        assert torch.equal(first[key], second[key]), key
    written = json.loads((tmp_path / "run" / "samples" / "final_attributes.json").read_text())
    assert set(written["ward"]) <= {"a", "b", "c"} and len(written["age"]) == len(written["ward"])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_two_ranks_of_batch_b_step_like_one_process_of_batch_2b(tmp_path, precision):
    # an MLP without batch norm on 2-D points: the global batch's gradient is the mean of the ranks' gradients
    common = ["--data", "ring", "--model", "mlp", "--g-width", "32", "--d-width", "32", "--threads", "1",
              "--device", "cpu", "--steps", "5", "--log-every", "5", "--quiet", "--lr-g", "1e-3", "--lr-d", "1e-3",
              "--precision", precision]
    _run(tmp_path / "two", [*common, "--batch-size", "16", "--out", str(tmp_path / "run2")])
    _run(tmp_path / "one", [*common, "--batch-size", "32", "--out", str(tmp_path / "run1")], processes=1)
    # and batch B alone does not match: the comparison can fail
    _run(tmp_path / "half", [*common, "--batch-size", "16", "--out", str(tmp_path / "run_half")], processes=1)
    two, one, half = (_weights(tmp_path / name, 0) for name in ("two", "one", "half"))
    keys = [key for key in one if key.startswith(("generator.", "discriminator."))]
    if precision == "fp32":
        for key in keys:
            assert torch.allclose(two[key], one[key], atol=1e-5, rtol=1e-4), key
        generator = [key for key in keys if key.startswith("generator.")]
        assert any(not torch.allclose(half[k], one[k], atol=1e-5, rtol=1e-4) for k in generator)
        return
    # bf16 rounds the two halves' sums apart, and Adam turns a tiny gradient's flipped sign into a whole step; so
    # the weights are compared as a whole. Measured on an AMD EPYC (no AMX): mean |2×B − 2B| 1.7e-5 against mean
    # |B − 2B| 7.9e-4 (a ratio of 0.02); the bounds leave 10× room for other CPUs' bf16 kernels.
    apart = torch.cat([(two[k] - one[k]).abs().flatten() for k in keys]).mean()
    baseline = torch.cat([(half[k] - one[k]).abs().flatten() for k in keys]).mean()
    assert apart < 0.2 * baseline and apart < 2e-4, (float(apart), float(baseline))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_multi_process_run_resumes_exactly(tmp_path, precision):
    # ADA steers p every 4 steps from sums over both ranks: a checkpoint at step 3 holds partial sums
    args = [*TINY, "--batch-size", "8", "--ema", "0.9", "--augment-p", "ada", "--checkpoint-every", "3",
            "--precision", precision]
    _run(tmp_path / "unbroken", [*args, "--steps", "10", "--out", str(tmp_path / "a")])
    _run(tmp_path / "first", [*args, "--steps", "3", "--out", str(tmp_path / "b")])
    _run(tmp_path / "resumed", ["--resume", str(tmp_path / "b"), "--steps", "10", "--quiet"])
    p = {run: {r["step"]: r["augment_p"] for r in map(json.loads, (tmp_path / run / "metrics.jsonl").open())}
         for run in ("a", "b")}
    assert p["a"][10] > 0 and all(p["b"][step] == value for step, value in p["a"].items())
    for rank in (0, 1):
        unbroken, resumed = _weights(tmp_path / "unbroken", rank), _weights(tmp_path / "resumed", rank)
        for key in unbroken:
            assert torch.equal(unbroken[key], resumed[key]), (rank, key)
    # a different number of processes would read other batches: refused by name
    done = subprocess.run([sys.executable, "-m", "ganforge", "train", "--resume", str(tmp_path / "b"), "--steps", "9",
                           "--quiet"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "processes" in done.stderr, done.stderr


def test_a_stop_on_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    job = _run(tmp_path / "dump", [*TINY, "--steps", "100000", "--batch-size", "8", "--checkpoint-every", "100000",
                                   "--out", str(tmp_path / "run")], env={"PIDS": str(pids)}, wait=False)
    try:
        metrics = tmp_path / "run" / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
            assert job.poll() is None and time.monotonic() < deadline, job.stdout.read() if job.poll() else "slow"
            time.sleep(0.2)
        os.kill(int((pids / "rank1.pid").read_text()), signal.SIGINT)  # Ctrl-C on rank 1 alone
        output, _ = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, output[-3000:]
    first, second = _weights(tmp_path / "dump", 0), _weights(tmp_path / "dump", 1)
    step = int(first["step"])
    assert int(second["step"]) == step and 0 < step < 100000
    latest = json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())
    assert latest["step"] == step, latest
    assert "interrupted at step" in output


def test_ctrl_c_on_ganforge_train_nproc_saves_and_resumes(tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "ganforge", "train", "--nproc", "2", *TINY, "--steps", "100000",
               "--batch-size", "8", "--checkpoint-every", "100000", "--out", str(run)]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        metrics = run / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
            assert job.poll() is None and time.monotonic() < deadline, job.stdout.read() if job.poll() else "slow"
            time.sleep(0.2)
        os.kill(job.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends to `ganforge train`
        output, _ = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert job.returncode == 130, output[-3000:]
    assert "interrupted at step" in output and "Traceback" not in output, output[-3000:]
    step = json.loads((run / "checkpoints" / "latest.json").read_text())["step"]
    assert 0 < step < 100000
    done = subprocess.run([sys.executable, "-m", "ganforge", "train", "--nproc", "2", "--resume", str(run),
                           "--steps", str(step + 2), "--quiet"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == step + 2


@pytest.mark.parametrize(("flags", "message"), [
    (["--data", "digits", "--augment-p", "2"], "option --augment-p must be auto, ada, off or a probability"),
    (["--data", "no/such/folder"], "data 'no/such/folder' is neither an existing path nor a built-in dataset"),
    (["--data", "TABLE"], "option --nproc (several processes) applies to image and vector data, not to table runs"),
])
def test_bad_input_with_nproc_is_refused_before_any_process_starts(tmp_path, flags, message):
    table = tmp_path / "t.csv"
    table.write_text("a,b\n" + "\n".join(f"{i},{i % 3}" for i in range(20)) + "\n")
    flags = [str(table) if f == "TABLE" else f for f in flags]
    done = subprocess.run([sys.executable, "-m", "ganforge", "train", "--nproc", "2", *flags, "--out",
                           str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.strip().count("\n") == 0, done.stderr
    assert "torchrun" not in done.stderr and not (tmp_path / "r").exists()


def _photos(folder: Path, n: int = 8, size: int = 48) -> Path:
    """Colour stripes at random angles: photos for the image-to-image runs."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    for i in range(n):
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 9)
        wave = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)
        image = np.clip(rng.uniform(60, 190, 3)[None, None] + 50 * wave[..., None], 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"{i}.png")
    return folder


def test_super_resolution_on_two_ranks_of_batch_b_steps_like_one_process_of_batch_2b(tmp_path):
    # the pixel phase (SRResNet has no batch norm): the global batch's gradient is the mean of the ranks'
    photos = _photos(tmp_path / "photos")
    common = ["--task", "sr", "--data", str(photos), "--scale", "2", "--image-size", "24", "--g-width", "8",
              "--d-width", "8", "--steps", "4", "--pixel-steps", "4", "--lr-g", "1e-3", "--perceptual", "none",
              "--threads", "1", "--device", "cpu", "--log-every", "2", "--quiet"]
    _run(tmp_path / "two", [*common, "--batch-size", "2", "--out", str(tmp_path / "run2")])
    _run(tmp_path / "one", [*common, "--batch-size", "4", "--out", str(tmp_path / "run1")], processes=1)
    _run(tmp_path / "half", [*common, "--batch-size", "2", "--out", str(tmp_path / "run_half")], processes=1)
    two, one, half = (_weights(tmp_path / name, 0) for name in ("two", "one", "half"))
    keys = [key for key in one if key.startswith("generator.")]
    for key in keys:
        assert torch.allclose(two[key], one[key], atol=1e-5, rtol=1e-4), key
    assert any(not torch.allclose(half[k], one[k], atol=1e-5, rtol=1e-4) for k in keys)  # the check can fail
    config = json.loads((tmp_path / "run2" / "config.json").read_text())
    assert config["runtime"]["processes"] == 2 and config["model"]["options"]["batch_size"] == 2


def test_pix2pix_ranks_keep_identical_weights_and_batch_norm_statistics(tmp_path):
    photos = _photos(tmp_path / "photos")
    _run(tmp_path / "dump", ["--task", "gray2color", "--data", str(photos), "--image-size", "16", "--g-width", "8",
                             "--d-width", "8", "--batch-size", "2", "--steps", "4", "--ema", "0.5", "--threads", "1",
                             "--device", "cpu", "--log-every", "2", "--quiet", "--out", str(tmp_path / "run")])
    first, second = _weights(tmp_path / "dump", 0), _weights(tmp_path / "dump", 1)
    assert any(key.startswith("generator_ema.") and key.endswith("running_mean") for key in first)
    for key in first:
        assert torch.equal(first[key], second[key]), key
    assert int(first["step"]) == 4
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "l1" in r] == [2, 4]  # one log, written by rank 0


def test_cyclegan_refuses_several_processes_in_one_line_before_they_start(tmp_path):
    a, b = _photos(tmp_path / "a", 4), _photos(tmp_path / "b", 4)
    done = subprocess.run([sys.executable, "-m", "ganforge", "train", "--nproc", "2", "--task", "unpaired",
                           "--data", str(a), "--data-b", str(b), "--steps", "2", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "option --nproc (several processes) does not apply to --task unpaired (CycleGAN) yet" in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "torchrun" not in done.stderr, done.stderr
    assert not (tmp_path / "r").exists()
