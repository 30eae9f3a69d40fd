"""Training end to end: real outcomes on toy data, grids and checkpoints, exact resume, Ctrl-C and divergence."""

import json
import math
import signal

import pytest
import torch
from safetensors.torch import load_file

import ganforge
from ganforge.errors import GanforgeError
from ganforge.training import checkpoint as ckpt
from ganforge.training.run_folder import RunFolder
from ganforge.training.trainer import SampleTask

TINY_DCGAN = {"data": "digits", "image_size": 16, "g_width": 8, "d_width": 8, "latent_dim": 16, "batch_size": 16,
              "precision": "fp32"}
# Over 3 seeds, by precision (measured spreads in conftest), so that a mean below the bound or fewer modes of 24 is a
# failure on any CPU, not bad luck (about 1 % chance from the measured spread): fp32 mean high quality 0.56, sd 0.2;
# bf16 mean 0.44, sd 0.23, one seed in 8 with 5 modes.
RING_MIN_MEAN_QUALITY = {"fp32": 0.3, "bf16": 0.15}
RING_MIN_TOTAL_MODES = {"fp32": 19, "bf16": 18}
TINY_MLP = {"data": "ring", "g_width": 32, "d_width": 32, "depth": 2, "batch_size": 64, "precision": "fp32"}


def _final_tensors(run_dir):
    return load_file(str(ckpt.find_checkpoint(run_dir) / ckpt.MODELS_FILE))


def _losses(run_dir):
    """Every logged number except wall-clock timings."""
    records = []
    for record in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()):
        for timing in ("seconds", "sec_per_step", "samples_per_sec"):
            record.pop(timing, None)
        if "eval" in record:
            record["eval"].pop("seconds")
        records.append(record)
    return records


@pytest.mark.slow
@pytest.mark.auto_precision
def test_ring_training_puts_most_samples_on_the_modes(ring_runs):
    # Three seeds judged together (see conftest): a broken trainer or loss puts almost nothing within 3σ of a mode.
    runs, precision = ring_runs["defaults"], ring_runs["precision"]
    mean_quality = sum(r["high_quality"] for r in runs) / len(runs)
    assert mean_quality > RING_MIN_MEAN_QUALITY[precision], (precision, runs)
    assert sum(r["modes"] for r in runs) >= RING_MIN_TOTAL_MODES[precision], (precision, runs)
    for run in runs:  # mode crowding can be flagged on the way; nothing worse may be
        assert not run["findings"] & {"divergence", "discriminator_wins", "generator_stalled"}, run


def test_digits_run_writes_grids_and_a_loadable_checkpoint(tmp_path):
    result = ganforge.train(**TINY_DCGAN, steps=40, sample_every=20, checkpoint_every=20, log_every=10,
                            out=tmp_path / "digits", progress=False)
    run = result.run_dir
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000020.png", "step_000040.png"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    for record in records:
        assert all(torch.isfinite(torch.tensor(record[k])) for k in ("d_loss", "g_loss", "d_real", "d_fake"))
    assert records[-1]["d_loss"] < records[0]["d_loss"]  # D learns to tell real digits from noise-born ones
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["name"] == "dcgan"
    assert config["model"]["options"] == {"latent_dim": 16, "g_width": 8, "d_width": 8, "minibatch_std": False}
    generator = ganforge.load(run)
    images = generator.sample(10, seed=3)
    assert images.shape == (10, 1, 16, 16) and images.min() >= 0 and images.max() <= 1
    # independent of batching (batch norm in eval mode); kernels may round differently per batch size at one thread
    torch.testing.assert_close(images, generator.sample(10, seed=3, batch_size=4), rtol=0, atol=1e-6)
    assert generator.step == 40


@pytest.mark.parametrize("setup", [
    dict(TINY_MLP, precision="fp32"),
    dict(TINY_MLP, precision="fp32", d_steps=2, latent="uniform", batch_norm=True),
    dict(TINY_DCGAN, precision="fp32"),
    dict(TINY_DCGAN, precision="bf16"),
    dict(TINY_MLP, precision="fp32", eval_every=7, eval_n=100),  # the split run also evaluates at its end, 7
    # class-conditional, with every piece that keeps state or draws random numbers
    dict(TINY_DCGAN, precision="fp32", conditional=True, pack=2, augment="color,translation", ema=0.9, r1=1.0,
         eval_every=7, eval_n=100, eval_metrics="fidelity"),
    dict(TINY_DCGAN, precision="fp32", conditional=True, cond="acgan", loss="wgan-gp", d_steps=2),
    dict(TINY_DCGAN, precision="bf16", conditional=True, cond="concat", r2=1.0, pack=2),
    dict(TINY_DCGAN, model="mlp", precision="fp32", conditional=True, ema=0.9),  # G without batch norm: embedding
    # fastgan: adaptive augmentation's p and its sums, the reconstruction's random crops
    dict(TINY_DCGAN, model="fastgan", image_size=32, g_width=4, d_width=4, precision="fp32", augment_p="ada",
         ema=0.9),
    dict(TINY_DCGAN, model="fastgan", image_size=32, g_width=4, d_width=4, precision="bf16", conditional=True,
         pack=2, r1=1.0, augment_p=0.3),
    # time series: the dense pair (minibatch std, EMA by default) and GRU layers, with their health measures
    dict(data="sines", g_width=16, d_width=16, depth=1, latent_dim=8, batch_size=32, precision="fp32"),
    dict(data="sines", cell="gru", g_width=8, d_width=8, depth=1, latent_dim=8, batch_size=16, precision="fp32"),
], ids=["mlp", "mlp-dsteps-uniform-bn", "dcgan-fp32", "dcgan-bf16", "mlp-evaluating", "conditional-cbn-proj",
        "conditional-acgan-gp", "conditional-concat-bf16", "conditional-mlp", "fastgan-ada", "fastgan-conditional",
        "sequence", "sequence-gru"])
def test_resume_is_bit_identical(tmp_path, setup):
    # one thread: --threads 0 follows the load of the machine, and float results depend on the thread count
    common = dict(setup, log_every=1, checkpoint_every=4, sample_every=100, progress=False, seed=5, threads=1)
    ganforge.train(**common, steps=12, out=tmp_path / "straight")
    ganforge.train(**common, steps=7, out=tmp_path / "split")
    ganforge.train(resume=tmp_path / "split", steps=12, progress=False)
    straight, split = _final_tensors(tmp_path / "straight"), _final_tensors(tmp_path / "split")
    assert straight.keys() == split.keys()
    for name in straight:
        assert torch.equal(straight[name], split[name]), name
    assert _losses(tmp_path / "straight") == _losses(tmp_path / "split")


def test_interrupt_saves_a_checkpoint_and_resume_continues_exactly(tmp_path, monkeypatch):
    common = dict(TINY_MLP, precision="fp32", log_every=2, checkpoint_every=50, progress=False)
    ganforge.train(**common, steps=10, out=tmp_path / "straight")

    original = SampleTask.train_step

    def press_ctrl_c_at_step_6(self, step, measure):
        stats = original(self, step, measure)
        if step == 5:  # the step being taken is the 6th
            signal.raise_signal(signal.SIGINT)
        return stats

    monkeypatch.setattr(SampleTask, "train_step", press_ctrl_c_at_step_6)
    interrupted = ganforge.train(**common, steps=10, out=tmp_path / "split")
    monkeypatch.setattr(SampleTask, "train_step", original)
    assert interrupted.interrupted and interrupted.step == 6
    assert ckpt.find_checkpoint(tmp_path / "split").name == "step_000006"
    resumed = ganforge.train(resume=tmp_path / "split", progress=False)
    assert resumed.step == 10 and not resumed.interrupted
    for name, value in _final_tensors(tmp_path / "straight").items():
        assert torch.equal(value, _final_tensors(tmp_path / "split")[name])
    assert _losses(tmp_path / "straight") == _losses(tmp_path / "split")


def _poison_generator_once_at_step(monkeypatch, step):
    original = SampleTask.train_step
    done = []

    def poison(self, at, measure):
        stats = original(self, at, measure)
        if at == step and not done:
            done.append(True)
            with torch.no_grad():
                next(self.generator.parameters()).fill_(float("nan"))
        return stats

    monkeypatch.setattr(SampleTask, "train_step", poison)


def test_divergence_rolls_back_to_the_last_good_checkpoint(tmp_path, monkeypatch):
    _poison_generator_once_at_step(monkeypatch, 2)  # NaN weights during the 3rd step
    result = ganforge.train(**TINY_MLP, steps=10, checkpoint_every=2, log_every=1, progress=False, out=tmp_path / "r")
    assert result.step == 10
    assert all(torch.isfinite(t).all() for t in _final_tensors(tmp_path / "r").values())
    events = RunFolder(tmp_path / "r").read_diagnoses()
    assert [e["event"] for e in events if e["name"] == "divergence"][:2] == ["start", "rollback"]
    rollback = next(e for e in events if e["event"] == "rollback")
    assert "rolled back to step 2" in rollback["evidence"] and "× 0.5" in rollback["evidence"]
    state = json.loads((ckpt.find_checkpoint(tmp_path / "r") / ckpt.STATE_FILE).read_text())
    assert state["lr_scale"] == 0.5 and state["optimizers"]["opt_g"]["param_groups"][0]["lr"] == pytest.approx(5e-4)


def test_divergence_can_stop_instead_and_never_saves_nan_weights(tmp_path, monkeypatch):
    _poison_generator_once_at_step(monkeypatch, 2)
    with pytest.raises(GanforgeError, match="diverged at step 3"):
        ganforge.train(**TINY_MLP, steps=10, checkpoint_every=2, log_every=1, on_divergence="stop",
                       progress=False, out=tmp_path / "r")
    assert ckpt.find_checkpoint(tmp_path / "r").name == "step_000002"
    assert all(torch.isfinite(t).all() for t in _final_tensors(tmp_path / "r").values())


def test_run_folders_are_never_overwritten_and_resume_keeps_the_recipe(tmp_path):
    ganforge.train(**TINY_MLP, steps=2, out=tmp_path / "r", progress=False)
    with pytest.raises(GanforgeError, match="already holds a run; continue it with --resume"):
        ganforge.train(**TINY_MLP, steps=2, out=tmp_path / "r", progress=False)
    with pytest.raises(GanforgeError, match="option --loss cannot change when resuming"):
        ganforge.train(resume=tmp_path / "r", loss="minimax", steps=4, progress=False)
    with pytest.raises(GanforgeError, match="is not a ganforge run folder"):
        ganforge.train(resume=tmp_path, steps=4, progress=False)
    assert ganforge.train(resume=tmp_path / "r", steps=3, g_width=32, progress=False).step == 3


def test_evaluation_while_training_logs_metrics_and_keeps_the_best_checkpoint(tmp_path):
    result = ganforge.train(**TINY_MLP, steps=300, eval_every=100, eval_n=500, best_metric="high_quality",
                            log_every=100, out=tmp_path / "r", progress=False)
    evaluations = [r for r in RunFolder(result.run_dir).read_metrics() if "eval" in r]
    assert [r["step"] for r in evaluations] == [100, 200, 300]
    assert {"fd", "kid", "precision", "recall", "density", "coverage", "modes", "high_quality"} <= set(
        evaluations[0]["eval"])
    best = json.loads((result.run_dir / "checkpoints" / "best.json").read_text())
    scores = {r["step"]: r["eval"]["high_quality"] for r in evaluations}
    assert best["value"] == max(scores.values()) and scores[best["step"]] == best["value"]
    assert ganforge.load(result.run_dir, checkpoint="best").step == best["step"]


def test_eval_command_on_a_ring_run(tmp_path, capsys):
    from ganforge.cli import main

    ganforge.train(**TINY_MLP, steps=20, out=tmp_path / "r", progress=False)
    assert main(["eval", str(tmp_path / "r"), "--n", "300", "--quiet"]) == 0
    report = json.loads((tmp_path / "r" / "eval.json").read_text())
    assert report["features"] == "raw" and report["n_fake"] == 300 and report["modes_total"] == 8
    assert "precision" in capsys.readouterr().out
    assert main(["eval", str(tmp_path / "r"), "--metrics", "fd,is", "--quiet"]) == 2
    assert "metric is needs class logits" in capsys.readouterr().err


def test_best_metric_auto_ranks_mixtures_by_modes_and_refuses_values_that_rank_nothing(tmp_path):
    result = ganforge.train(**TINY_MLP, steps=20, eval_every=10, eval_n=200, log_every=10, out=tmp_path / "r",
                            progress=False)
    assert json.loads((result.run_dir / "checkpoints" / "best.json").read_text())["metric"] == "modes"
    with pytest.raises(GanforgeError, match="--best-metric density is not a value that ranks checkpoints"):
        ganforge.train(**TINY_MLP, steps=2, eval_every=1, best_metric="density", out=tmp_path / "d", progress=False)
    only_fd = ganforge.train(**TINY_MLP, steps=10, eval_every=5, eval_n=100, eval_metrics="fd", log_every=5,
                             out=tmp_path / "f", progress=False)  # auto follows the metrics that run
    assert json.loads((only_fd.run_dir / "checkpoints" / "best.json").read_text())["metric"] == "fd"
    with pytest.raises(GanforgeError, match="--best-metric high_quality is not given by the metrics evaluated while "
                                            "training \\(fd\\)"):
        ganforge.train(**TINY_MLP, steps=2, eval_every=1, eval_metrics="fd", best_metric="high_quality",
                       out=tmp_path / "h", progress=False)
    assert not (tmp_path / "h").exists()  # refused before anything was written
    with pytest.raises(GanforgeError, match="--best-metric kl_uniform is not given"):  # ring's modes have no KL
        ganforge.train(**TINY_MLP, steps=2, eval_every=1, best_metric="kl_uniform", out=tmp_path / "k",
                       progress=False)


def test_evaluation_never_saves_non_finite_weights(tmp_path, monkeypatch):
    original = SampleTask.evaluate

    def poison_then_evaluate(self, step):
        with torch.no_grad():
            next(self.generator.parameters()).fill_(float("nan"))
        return original(self, step)

    monkeypatch.setattr(SampleTask, "evaluate", poison_then_evaluate)
    # evaluation at step 5, checkpoints every 100: keeping a best would have to save a checkpoint of its own
    with pytest.raises(GanforgeError, match="diverged"):
        ganforge.train(**TINY_MLP, steps=10, eval_every=5, eval_n=100, checkpoint_every=100, log_every=10,
                       on_divergence="stop", out=tmp_path / "r", progress=False)
    assert ckpt.find_checkpoint(tmp_path / "r").name == "step_000000"
    assert not (tmp_path / "r" / "checkpoints" / "best").exists()


def test_core_share_gives_cores_up_while_others_are_busy_and_takes_them_back(monkeypatch):
    from ganforge.training import hardware
    from ganforge.training.hardware import CoreShare

    share = CoreShare(2, interval=1.0, patience=2)
    # (wall s, machine busy CPU s, own CPU s): each second, another process keeps one core busy, then stops
    samples = iter([(1, 2, 1), (2, 4, 2), (3, 5, 3), (4, 6, 4), (5, 7, 5)])
    clock = [0.0]
    monkeypatch.setattr(hardware.time, "monotonic", lambda: clock[0])

    def sample():
        sample.latest = next(samples)
        clock[0] = sample.latest[0]
        return sample.latest

    share._sample = sample
    share._last = (0, 0, 0)
    threads = [2]
    for wall in (1, 2, 2.5, 3, 4, 5):
        clock[0] = wall  # the loop's clock: /proc/stat is read only once an interval has passed
        threads.append(share.threads(threads[-1]))
    # busy twice in a row → 1 thread; half a second later: too soon to look; idle twice in a row → 2 threads again
    assert threads == [2, 2, 1, 1, 1, 2, 2]
    assert CoreShare(2)._sample() is not None  # /proc/stat is readable here


def test_a_checkpoint_from_before_rt_was_logged_resumes(tmp_path):
    # ganforge 0.2 logged four statistics per step; its checkpoints hold a partial sum of four
    from safetensors.torch import load_file, save_file

    run = ganforge.train(**TINY_DCGAN, steps=4, log_every=3, threads=1, progress=False, out=tmp_path / "old")
    training_file = run.run_dir / "checkpoints" / "step_000004" / "training.safetensors"
    tensors = load_file(training_file)
    assert tensors["stats.sum"].shape == (5,)
    tensors["stats.sum"] = tensors["stats.sum"][:4].clone()
    save_file(tensors, training_file)
    resumed = ganforge.train(resume=run.run_dir, steps=6, progress=False)
    assert resumed.step == 6 and math.isfinite(resumed.last_metrics["rt"])


@pytest.mark.parametrize("model", ["dcgan", "fastgan", "mlp"])
def test_bf16_agrees_with_fp32_on_this_cpu(model):
    from ganforge.config import build_config
    from ganforge.models import build_models, resolve_model
    from ganforge.training.hardware import autocast_factory, cpu_has_fast_bf16
    from ganforge.training.precision_check import bf16_disagreement

    # the families at their default sizes (the measured errors: docs of training/precision_check.py)
    kind, shape = ("vector", (2,)) if model == "mlp" else ("image", (3, 64, 64))
    _, options = resolve_model(build_config({"model": model}), kind)
    torch.manual_seed(0)
    generator, discriminator = build_models(model, shape, options)
    z = torch.randn(8, options["latent_dim"], generator=torch.Generator().manual_seed(0))
    problem = bf16_disagreement(generator, lambda x: discriminator(x), z, autocast_factory("bf16", torch.device("cpu")),
                                [generator, discriminator])
    if problem is not None and cpu_has_fast_bf16():  # AMX kernels are the ones the check guards against
        pytest.xfail(f"this CPU's AMX bf16 kernels disagree with fp32 ({problem}): --precision auto trains in fp32 "
                     "here")
    assert problem is None  # healthy bf16 must not be mistaken for a broken kernel (it would cost AMX its speed)


@pytest.mark.auto_precision  # sets GANFORGE_ASSUME_AMX itself
def test_a_broken_bf16_kernel_is_caught_and_auto_trains_in_fp32(tmp_path, monkeypatch, caplog):
    import torch.nn.functional as F

    from ganforge.training.hardware import AMX_SWITCH

    convolution = F.conv2d

    def striped(x, *args, **kwargs):  # wrong every 8th row under bf16, as a broken kernel might be
        out = convolution(x, *args, **kwargs)
        if out.dtype == torch.bfloat16:
            out = out.clone()
            out[..., ::8, :] *= 4
        return out

    monkeypatch.setattr(torch.nn.modules.conv.F, "conv2d", striped)
    monkeypatch.setenv(AMX_SWITCH, "1")  # --precision auto is bf16, as on a CPU with AMX
    with caplog.at_level("WARNING", logger="ganforge"):
        auto = ganforge.train(**{**TINY_DCGAN, "precision": "auto"}, steps=1, threads=1, out=tmp_path / "auto",
                              progress=False).run_dir
        asked = ganforge.train(**{**TINY_DCGAN, "precision": "bf16"}, steps=1, threads=1, out=tmp_path / "bf16",
                               progress=False).run_dir
    assert json.loads((auto / "config.json").read_text())["runtime"]["precision"] == "fp32"
    assert json.loads((asked / "config.json").read_text())["runtime"]["precision"] == "bf16"  # kept, as asked
    warnings = [r.getMessage() for r in caplog.records if "bf16 disagrees with fp32" in r.getMessage()]
    assert len(warnings) == 2 and "training in fp32 instead" in warnings[0] and "worst image row" in warnings[0]
