"""Checkpoints: safetensors round trip, atomic writes, pruning, and refusal of anything that could run code."""

import json
import pickle

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.training import checkpoint as ckpt


def _model_and_optimizer(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.9))
    model(torch.randn(8, 3)).sum().backward()
    optimizer.step()
    return model, optimizer


def _save(folder, step, model, optimizer, keep=3):
    tensors = ckpt.module_tensors({"net": model})
    opt_tensors, opt_meta = ckpt.optimizer_to_tensors(optimizer, "opt")
    return ckpt.save_checkpoint(folder, step, tensors, opt_tensors, {"step": step, "opt": opt_meta}, keep)


def test_round_trip_restores_weights_buffers_and_optimizer_state(tmp_path):
    model, optimizer = _model_and_optimizer()
    path = _save(tmp_path / "checkpoints", 7, model, optimizer)
    tensors, training, state = ckpt.load_checkpoint(path)
    fresh, fresh_opt = _model_and_optimizer(seed=1)
    ckpt.load_module_tensors({"net": fresh}, tensors, path)
    ckpt.optimizer_from_tensors(fresh_opt, "opt", training, state["opt"])
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # parameters and batch-norm buffers
    original, restored = optimizer.state_dict(), fresh_opt.state_dict()
    assert restored["param_groups"][0]["betas"] == (0.5, 0.9)
    for index, entry in original["state"].items():
        for key, value in entry.items():
            assert torch.equal(value, restored["state"][index][key])
    assert state["step"] == 7 and ckpt.find_checkpoint(tmp_path) == path


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    model, optimizer = _model_and_optimizer()
    for step in (1, 2, 3, 4):
        _save(tmp_path / "checkpoints", step, model, optimizer, keep=2)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*"))
    assert kept == ["step_000003", "step_000004"]
    assert json.loads((tmp_path / "checkpoints" / "latest.json").read_text())["step"] == 4


def test_a_crash_while_saving_leaves_the_last_good_checkpoint(tmp_path, monkeypatch):
    model, optimizer = _model_and_optimizer()
    good = _save(tmp_path / "checkpoints", 1, model, optimizer)
    calls = {"n": 0}
    real_save = ckpt.write_safetensors

    def crash_on_second_file(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(ckpt, "write_safetensors", crash_on_second_file)
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path / "checkpoints", 2, model, optimizer)
    assert ckpt.find_checkpoint(tmp_path) == good
    assert not list((tmp_path / "checkpoints").glob(".partial-*"))  # no half-written folder left behind
    ckpt.load_checkpoint(good)


def test_a_half_written_latest_pointer_falls_back_to_the_newest_whole_checkpoint(tmp_path):
    model, optimizer = _model_and_optimizer()
    _save(tmp_path / "checkpoints", 1, model, optimizer)
    newest = _save(tmp_path / "checkpoints", 2, model, optimizer)
    (tmp_path / "checkpoints" / "latest.json").write_text('{"step": 3, "fol')
    assert ckpt.find_checkpoint(tmp_path) == newest
    (newest / ckpt.STATE_FILE).unlink()  # an incomplete folder is skipped too
    assert ckpt.find_checkpoint(tmp_path).name == "step_000001"


def test_a_checkpoint_holding_a_pickle_is_refused(tmp_path):
    model, optimizer = _model_and_optimizer()
    path = _save(tmp_path / "checkpoints", 1, model, optimizer)
    torch.save(model.state_dict(), path / "model.pt")
    with pytest.raises(GanforgeError, match="contains 'model.pt'.*refuses anything else"):
        ckpt.load_checkpoint(path)


def test_a_pickle_disguised_as_safetensors_is_refused(tmp_path):
    model, optimizer = _model_and_optimizer()
    path = _save(tmp_path / "checkpoints", 1, model, optimizer)

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle code ran')",))

    (path / ckpt.MODELS_FILE).write_bytes(pickle.dumps(Boom()))
    with pytest.raises(GanforgeError, match="not valid safetensors"):
        ckpt.load_checkpoint(path)


def test_mismatched_weights_are_reported_by_model_name(tmp_path):
    model, optimizer = _model_and_optimizer()
    path = _save(tmp_path / "checkpoints", 1, model, optimizer)
    tensors, _, _ = ckpt.load_checkpoint(path)
    other = torch.nn.Linear(5, 5)
    with pytest.raises(GanforgeError, match="does not match the net model"):
        ckpt.load_module_tensors({"net": other}, tensors, path)


def test_json_files_stay_standard_json_when_a_value_is_not_finite(tmp_path):
    from ganforge.training.run_folder import RunFolder

    ckpt.write_json(tmp_path / "eval.json", {"fd": float("nan"), "kid": [1.0, float("inf")], "step": 3})
    text = (tmp_path / "eval.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"fd": None, "kid": [1.0, None], "step": 3}
    run = RunFolder.new(tmp_path / "run")
    run.write_config({"config": {}})
    run.append_metrics({"step": 1, "d_loss": float("nan")})
    assert json.loads(run.metrics_path.read_text()) == {"step": 1, "d_loss": None}
