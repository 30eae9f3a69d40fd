"""The shared training loop and the run kinds: tables train through the same loop as images and vectors, with
its health monitor, rollback, checkpoints and resume check; `api` and `cli` dispatch on the run's kind."""

from __future__ import annotations

import json
import math
import sys
import types

import pytest
import torch
from test_tabular import FAST, mixed_table

import ganforge
from ganforge import kinds
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.tabular import TableGAN
from ganforge.tabular.task import TableTask
from ganforge.training import checkpoint as ckpt
from ganforge.training.checkpoint import check_identity
from ganforge.training.loop import LoopOutput, TrainResult


def _poison_table_generator_at(monkeypatch, step: int, times: int = 1) -> None:
    """Make the table generator's weights NaN during training step `step`, the first `times` times it is taken."""
    original, done = TableTask.train_step, []

    def poison(self, at, measure):
        stats = original(self, at, measure)
        if at == step and len(done) < times:
            done.append(at)
            with torch.no_grad():
                next(self.generator.parameters()).fill_(float("nan"))
        return stats

    monkeypatch.setattr(TableTask, "train_step", poison)


def test_a_table_fit_that_diverges_rolls_back_in_memory_and_finishes(monkeypatch):
    """No checkpoints folder: the loop keeps the last good state in memory, rolls back to it with halved learning
    rates, and the fit ends with finite weights and rows."""
    # epoch 2 (3 steps an epoch), twice: the last good state, step 0, must serve both rollbacks whole
    _poison_table_generator_at(monkeypatch, 4, times=2)
    events = []
    model = TableGAN(**{**FAST, "epochs": 4}).fit(mixed_table(300), output=LoopOutput(diagnosis=events.append))
    rollback = [e for e in events if e["event"] == "rollback"]
    assert len(rollback) == 2 and all("rolled back to step 0" in e["evidence"] for e in rollback), events
    assert "× 0.5" in rollback[0]["evidence"] and "× 0.25" in rollback[1]["evidence"]
    assert [r["epoch"] for r in model.history] == [1, 2, 3, 4]  # the records after the good state were redone
    assert all(math.isfinite(r["d_loss"]) for r in model.history)
    assert all(torch.isfinite(p).all() for p in model.generator.parameters())
    assert len(model.sample(20, seed=0)) == 20


def test_a_table_run_that_diverges_rolls_back_to_its_checkpoint(tmp_path, monkeypatch):
    """From the command line: the rollback is in diagnoses.jsonl, metrics.jsonl holds each epoch once, the health
    monitor's measures of the fixed rows are logged, and the run finishes usable."""
    table = tmp_path / "customers.csv"
    mixed_table(300).to_csv(table, index=False)
    _poison_table_generator_at(monkeypatch, 7)  # epoch 3; the checkpoint of epoch 2 (step 6) is the good state
    run = tmp_path / "run"
    assert main(["train", "--precision", "fp32", "--data", str(table), "--epochs", "4", "--batch-size", "100",
                 "--checkpoint-every", "1",
                 "--out", str(run), "--quiet"]) == 0
    events = [json.loads(line) for line in (run / "diagnoses.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events if e["name"] == "divergence"][:2] == ["start", "rollback"]
    assert "rolled back to step 6" in next(e for e in events if e["event"] == "rollback")["evidence"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert all(0 < r["diversity"] < 10 for r in records)  # the fixed rows are compared with real ones
    moved = [r["movement"] for r in records if "movement" in r]  # none at the first look after a (re)start
    assert len(moved) == 2 and all(math.isfinite(m) for m in moved)
    state = ckpt.read_checkpoint_state(ckpt.find_checkpoint(run))
    assert state["kind"] == "table" and state["lr_scale"] == 0.5 and state["rollbacks"] == 1
    assert main(["sample", str(run), "--n", "5", "--out", str(tmp_path / "x.csv")]) == 0
    with pytest.raises(GanforgeError, match="is a table run, which has no image, vector or sequence generator"):
        ganforge.load(run)
    with pytest.raises(GanforgeError, match="unknown option in options: stepz"):  # a typo is named, not a crash
        ganforge.train(resume=run, stepz=5)


def test_a_checkpoint_continues_only_its_own_kind_options_and_data(tmp_path):
    """The one resume check (`check_identity`): kind, then data, then the options that cannot change."""
    frame = mixed_table(300)
    TableGAN(**FAST).fit(frame, checkpoints=tmp_path / "c")
    found = ckpt.find_checkpoint_in(tmp_path / "c")
    state = ckpt.read_checkpoint_state(found)
    saved = state["identity"]
    with pytest.raises(GanforgeError, match="is a table run's; it cannot continue a tensor run"):
        check_identity(found, state, "tensor", saved)
    with pytest.raises(GanforgeError, match="was made on other data"):
        check_identity(found, state, "table", {"options": saved["options"], "data": "elsewhere"})
    with pytest.raises(GanforgeError, match=r"other options \(lr_g\); only --epochs may change"):
        check_identity(found, state, "table", {"options": {**saved["options"], "lr_g": 1.0}, "data": saved["data"]},
                       resumable="--epochs")
    check_identity(found, state, "table", saved)  # the same: accepted
    with pytest.raises(GanforgeError, match="made on another table"):  # refused before the table is encoded
        TableGAN(**{**FAST, "epochs": 3}).fit(mixed_table(300).drop(columns="plan"), checkpoints=tmp_path / "c",
                                             resume=True)


def test_runs_are_dispatched_on_their_recorded_kind(tmp_path):
    assert kinds.kind_for_data("customers.CSV").name == "table"
    assert kinds.kind_for_data("digits").name == "tensor"
    assert kinds.kind_for_data(str(tmp_path / "x.npz")).name == "tensor"
    run = ganforge.train("ring", precision="fp32", model="mlp", depth=1, g_width=8, d_width=8, steps=2,
                         out=tmp_path / "r",
                         progress=False, threads=1)
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["kind"] == "tensor"
    del config["kind"]  # a run from before kinds were recorded
    (run.run_dir / "config.json").write_text(json.dumps(config))
    assert kinds.kind_of(ganforge.training.run_folder.RunFolder(run.run_dir)).name == "tensor"
    with pytest.raises(GanforgeError, match="unknown run kind 'wave'"):
        kinds.kind_named("wave")
    assert kinds.kind_for_data("sines").name == "sequence"
    assert kinds.kind_for_data("prices.csv", {"window": 24}).name == "sequence"  # --window makes a CSV a series


def test_a_new_kind_of_run_is_one_module_and_one_registry_line(tmp_path, monkeypatch, capsys):
    """A kind claims its data; `ganforge train`, `sample` and `--resume` reach it with no other change."""
    module = types.ModuleType("fake_kind")

    class WaveRuns(kinds.RunKind):
        name = "wave"

        def claims(self, data, options):
            return data.endswith(".wav")

        def train(self, config, given, progress):
            run = ganforge.training.run_folder.RunFolder.new(config.out)
            run.write_config({"kind": "wave", "config": {"data": config.data}})
            return TrainResult(run.path, 7)

        def resume(self, run, overrides, progress):
            return TrainResult(run.path, 9)

        def report(self, result, command="ganforge"):
            return [f"waves to step {result.step}"]

        def sample(self, args):
            print("wave samples")
            return 0

    module.WaveRuns = WaveRuns
    monkeypatch.setitem(sys.modules, "fake_kind", module)
    monkeypatch.setitem(kinds.RUN_KINDS, "wave", "fake_kind:WaveRuns")
    out = tmp_path / "w"
    assert main(["train", "--data", "song.wav", "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out)]) == 0
    assert main(["sample", str(out), "--out", str(tmp_path / "s")]) == 0
    assert capsys.readouterr().out.split("\n")[:3] == ["waves to step 7", "waves to step 9", "wave samples"]
