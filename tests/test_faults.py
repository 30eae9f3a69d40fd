"""Faults: kill -9 at seeded moments (during start-up, a step, a checkpoint write, a grid write, a metrics line, or
at a random time) and --resume ends bit-identical to an uninterrupted run, for image, vector and table runs; a full disk
or an impossible --out is a one-line error that leaves the last good checkpoint; two processes on one run folder."""

import errno
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_tabular import mixed_table

import ganforge
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.training import checkpoint as ckpt
from ganforge.training.run_folder import RunFolder

DRIVER = Path(__file__).with_name("kill_driver.py")
sys.path.insert(0, str(DRIVER.parent))
from kill_driver import run_options  # noqa: E402

# (moment, how many calls there are to choose from) per kind; the call is drawn with a seeded RNG
# Every moment is tried on vector runs; the other kinds share the loop and the run folder's writes, so they try the
# moments where their own files are written (a grid, a table's checkpoint) and a random one.
MOMENTS = {
    "vector": [("start", 1), ("step", 40), ("checkpoint", 16), ("grid", 8), ("metrics", 14), ("none", 0)],
    "image": [("checkpoint", 10), ("grid", 6), ("none", 0)],
    "table": [("step", 12), ("checkpoint", 7), ("metrics", 6), ("none", 0)],
}
CASES = [(kind, moment, i, total) for kind, moments in MOMENTS.items()
         for i, (moment, total) in enumerate(moments)]


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("table") / "customers.csv"
    mixed_table(200).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def references(tmp_path_factory, table_csv) -> dict[str, Path]:
    """Uninterrupted runs of each kind, with the options the driver uses."""
    folder = tmp_path_factory.mktemp("straight")
    runs = {}
    for kind in MOMENTS:
        runs[kind] = ganforge.train(**run_options(kind, str(folder / kind), table_csv)).run_dir
    return runs


def final_tensors(run: Path, kind: str) -> dict[str, torch.Tensor]:
    if kind == "table":
        return load_file(str(run / "model" / "table_model.safetensors"))
    return load_file(str(ckpt.find_checkpoint(run) / ckpt.MODELS_FILE))


def finished(run: Path, kind: str) -> bool:
    """Whether the run was complete when it was killed (after its last write, before the process ended)."""
    config = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
    if kind == "table":
        return config.get("status") == "done"
    found = ckpt.find_checkpoint(run)
    return found is not None and ckpt.read_checkpoint_state(found)["step"] == config["config"]["steps"]


def logged(run: Path) -> list[dict]:
    """Every logged record without wall-clock timings."""
    records = []
    for record in RunFolder(run).read_metrics():
        for key in ("sec_per_step", "samples_per_sec", "seconds"):
            record.pop(key, None)
        records.append(record)
    return records


@pytest.mark.parametrize(("kind", "moment", "index", "total"), CASES,
                         ids=[f"{kind}-{moment}-{index}" for kind, moment, index, _ in CASES])
def test_kill_9_then_resume_ends_bit_identical(kind, moment, index, total, tmp_path, references, table_csv):
    rng = random.Random(f"{kind}-{moment}-{index}")
    call = rng.randint(1, total) if total else 0
    out = tmp_path / "run"
    command = [sys.executable, str(DRIVER), kind, str(out), moment, str(call), table_csv]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if moment == "none":  # a random moment once training runs
        assert process.stdout.readline().strip() == "training", process.stderr.read()
        time.sleep(rng.uniform(0.0, 1.5))
        process.send_signal(signal.SIGKILL)
    _, err = process.communicate(timeout=300)
    assert process.returncode in (-signal.SIGKILL, 0), err
    if moment == "start":  # before config.json: the folder holds its lock and start record, which --resume reads
        assert sorted(p.name for p in out.iterdir()) == [".lock", "start.json"]
        with pytest.raises(GanforgeError, match="was stopped before its first step; `ganforge train --resume"):
            RunFolder.open(out)
    if process.returncode == -signal.SIGKILL and not finished(out, kind):
        resumed = ganforge.train(resume=out, progress=False)
        assert not resumed.interrupted
    reference = references[kind]
    straight, split = final_tensors(reference, kind), final_tensors(out, kind)
    assert straight.keys() == split.keys()
    for name in straight:
        assert torch.equal(straight[name], split[name]), name
    assert logged(reference) == logged(out)
    assert not list((out / "checkpoints").glob(".partial-*"))


def test_a_full_disk_is_one_line_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    import errno

    original = ckpt.write_safetensors
    calls = [0]

    def disk_full_at_the_third_checkpoint(tensors, path, metadata=None):
        calls[0] += 1
        if calls[0] == 5:  # 2 files per checkpoint: steps 0 and 4 are written, step 8 is not
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(tensors, path, metadata)

    monkeypatch.setattr(ckpt, "write_safetensors", disk_full_at_the_third_checkpoint)
    run = tmp_path / "r"
    args = ["train", "--precision", "fp32", "--data", "ring", "--g-width", "16", "--d-width", "16", "--depth", "1",
            "--steps", "12",
            "--checkpoint-every", "4", "--out", str(run), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err
    assert "step_000004) is untouched" in err and f"--resume {run}" in err
    assert ckpt.find_checkpoint(run).name == "step_000004"
    ckpt.load_checkpoint(ckpt.find_checkpoint(run))
    monkeypatch.setattr(ckpt, "write_safetensors", original)  # space freed
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert ckpt.find_checkpoint(run).name == "step_000012"


@pytest.mark.parametrize("data", ["ring", "table"])
def test_an_impossible_out_is_one_line(tmp_path, capsys, data, table_csv):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    source = table_csv if data == "table" else data
    length = ["--epochs", "1"] if data == "table" else ["--steps", "2"]
    assert main(["train", "--data", source, *length, "--out", str(blocker / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot create the run folder there (Not a directory" in err
    assert blocker.read_text() == "not a folder"


def test_a_run_killed_during_start_up_is_started_again_by_resume_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "ring"
    killed = subprocess.run([sys.executable, str(DRIVER), "vector", str(out), "start", "1"], capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert main(["sample", str(out), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"ganforge train --resume {out}` starts it again" in err
    assert main(["train", "--resume", str(out), "--out", str(tmp_path / "elsewhere"), "--quiet"]) == 2
    assert "continues in its own folder" in capsys.readouterr().err
    record = (out / "start.json").read_text()
    assert main(["train", "--resume", str(out), "--pack", "7", "--quiet"]) == 2  # refused once the task is built
    assert "--pack 7 needs --batch-size divisible by it" in capsys.readouterr().err
    assert (out / "start.json").read_text() == record  # the failed restart kept what starts the run again
    assert main(["train", "--resume", str(out), "--steps", "12", "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["steps"] == 12 and config["config"]["seed"] == 5  # the options it was started with
    assert ckpt.read_checkpoint_state(ckpt.find_checkpoint(out))["step"] == 12
    assert not (out / "start.json").exists()


def test_a_full_disk_during_start_up_says_nothing_was_saved_and_leaves_no_folder(tmp_path, capsys, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.config_path))

    monkeypatch.setattr(RunFolder, "write_config", full)
    out = tmp_path / "run"
    assert main(["train", "--precision", "fp32", "--data", "ring", "--steps", "2", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing was saved: free space or choose another --out" in err
    assert not out.exists()


def test_a_second_process_on_the_same_run_is_refused_and_a_killed_one_leaves_no_lock(tmp_path):
    run = ganforge.train("ring", precision="fp32", g_width=16, d_width=16, depth=1, steps=2, out=tmp_path / "r",
                         progress=False).run_dir
    with RunFolder(run).lock(), pytest.raises(GanforgeError, match="is in use by another ganforge process"):
        ganforge.train(resume=run, steps=4, progress=False)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from ganforge.training.run_folder import "
                               "RunFolder\nwith RunFolder(sys.argv[1]).lock():\n    print('locked', flush=True); "
                               "time.sleep(60)", str(run)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(GanforgeError, match=f"pid {holder.pid}"):
        ganforge.train(resume=run, steps=4, progress=False)
    holder.kill()
    holder.wait()
    assert ganforge.train(resume=run, steps=4, progress=False).step == 4  # the kernel released the lock
    assert json.loads((run / "config.json").read_text())["config"]["steps"] == 4
