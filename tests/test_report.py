"""The run report: one self-contained HTML page written while training, by `ganforge report`, and for comparisons;
checked in a real headless Chromium; and TensorBoard event files read back."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal

import pytest
import torch
from browser import Browser, find_chromium
from PIL import Image, ImageStat
from test_tabular import mixed_table

import ganforge
from ganforge.cli import main
from ganforge.report import REPORT_FILE, build_report
from ganforge.report.sinks import LIVE_SHARE, LiveReport
from ganforge.training.trainer import SampleTask

TINY = dict(data="digits", image_size=16, g_width=8, d_width=8, latent_dim=16, batch_size=16, threads=1,
            precision="fp32", progress=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An image run with evaluations, one with a single log line, one stopped by Ctrl-C, one with NaN metrics and a
    finished table run."""
    root = tmp_path_factory.mktemp("reports")
    made = {"image": ganforge.train(**TINY, steps=30, log_every=5, sample_every=10, eval_every=15, eval_n=100,
                                    out=root / "image").run_dir,
            "one_line": ganforge.train(**TINY, steps=4, log_every=4, sample_every=4, out=root / "one_line").run_dir}
    original = SampleTask.train_step

    def ctrl_c_at_step_6(self, step, measure):
        stats = original(self, step, measure)
        if step == 5:
            signal.raise_signal(signal.SIGINT)
        return stats

    SampleTask.train_step = ctrl_c_at_step_6
    try:
        made["interrupted"] = ganforge.train(**TINY, steps=20, log_every=2, sample_every=4,
                                             out=root / "interrupted").run_dir
    finally:
        SampleTask.train_step = original
    nan = root / "nan"
    shutil.copytree(made["image"], nan)
    lines = (nan / "metrics.jsonl").read_text().splitlines()
    broken = [{**json.loads(line), "d_loss": None, "g_grad_norm": None} for line in lines[-3:]]
    (nan / "metrics.jsonl").write_text("\n".join(lines[:-3] + [json.dumps(r) for r in broken]) + "\n")
    (nan / "diagnoses.jsonl").write_text(json.dumps({"event": "start", "name": "divergence", "step": 20,
                                                     "evidence": "the losses became NaN", "remedy": "lower"}) + "\n")
    made["nan"] = nan
    table = root / "customers.csv"
    mixed_table(300).to_csv(table, index=False)
    assert main(["train", "--data", str(table), "--epochs", "3", "--batch-size", "100", "--out",
                 str(root / "table"), "--quiet"]) == 0
    made["table"] = root / "table"
    return made


def test_training_writes_the_report_at_its_first_grid_and_keeps_it_current(runs, tmp_path, monkeypatch):
    seen = []
    original = LiveReport.update

    def update(self, final=False):
        path = original(self, final)
        seen.append((final, (self.run_dir / REPORT_FILE).exists()))
        return path

    monkeypatch.setattr(LiveReport, "update", update)
    ganforge.train(**TINY, steps=8, log_every=2, sample_every=4, out=tmp_path / "r")
    assert seen[0] == (False, True)  # written at the first grid, while training
    assert seen[-1] == (True, True)
    page = (tmp_path / "r" / REPORT_FILE).read_text()
    assert page.count("<figure") == 2 and "step 8" in page  # the grids of steps 4 and 8, the last one current


def test_a_live_report_costs_at_most_its_share_of_training_time(tmp_path, monkeypatch):
    """Rebuilt only while the time spent building stays within LIVE_SHARE of the time since training began."""
    clock = [0.0]
    monkeypatch.setattr("ganforge.report.sinks.time.perf_counter", lambda: clock[0])

    def build(runs):
        clock[0] += 1.0  # each build takes a second
        return tmp_path / "report.html"

    monkeypatch.setattr("ganforge.report.build_report", build)
    live = LiveReport(tmp_path)
    built = []
    for _ in range(200):
        clock[0] += 1.0  # a second of training between grids
        built.append(live.update() is not None)
    assert built[0] and sum(built) < 200
    assert live.spent <= LIVE_SHARE * clock[0] + 1.0  # within budget, but for the one build that crossed it
    assert live.update(final=True) is not None


def test_the_report_holds_settings_curves_diagnoses_and_every_grid(runs):
    page = build_report([runs["image"]]).read_text()
    assert "ganforge train --data digits" in page and "--image-size 16" in page  # the command that reproduces it
    assert page.count("<svg") >= 5  # losses, D(x)/D(G(z)), gradient norms, speed, health, and the evaluations
    assert "eval: fd" in page
    grids = sorted((runs["image"] / "samples").glob("step_*.png"))
    assert page.count("<figure") == len(grids) == 3
    assert "data:image/webp;base64," in page and not re.search(r"(src|href)=[\"']?(https?:|//)", page)
    nan_page = build_report([runs["nan"]]).read_text()
    assert "divergence" in nan_page and "the losses became NaN" in nan_page and "(still raised)" in nan_page


def test_a_comparison_shows_what_differs_and_grids_at_equal_steps(runs, tmp_path, capsys):
    out = tmp_path / "compare.html"
    assert main(["report", str(runs["image"]), str(runs["interrupted"]), "--out", str(out)]) == 0
    page = out.read_text()
    assert "What differs" in page and "<td>steps</td><td>30</td><td>20</td>" in page
    ranked = build_report([runs["image"], runs["nan"]], tmp_path / "ranked.html").read_text()
    assert "Best fd (lower is better): " in ranked  # both kept their best checkpoint by fd
    assert page.count('class="frames"') == 2
    assert main(["report", str(runs["image"]), str(runs["interrupted"])]) == 2
    assert "needs --out FILE.html" in capsys.readouterr().err
    assert main(["report", str(runs["image"]), str(runs["image"]), "--out", str(out)]) == 2
    assert "given twice" in capsys.readouterr().err
    assert main(["report", str(runs["image"]), str(runs["table"]), "--out", str(out)]) == 2
    assert "runs of different kinds (table, tensor) do not compare" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == 2


def test_tensorboard_keeps_every_grid_and_every_scalar(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = ganforge.train(**TINY, steps=12, log_every=2, sample_every=2, tensorboard=True, out=tmp_path / "r").run_dir
    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert len(events.Images("samples")) == 6  # TensorBoard's default keeps 10 per tag at most; all are written
    assert [e.step for e in events.Scalars("train/d_loss")] == [2, 4, 6, 8, 10, 12]
    first = Image.open(io.BytesIO(events.Images("samples")[0].encoded_image_string))
    assert first.size == Image.open(run / "samples" / "step_000002.png").size


def test_a_resumed_run_writes_each_tensorboard_step_once(tmp_path):
    """A run that died after logging steps past its checkpoint logs them again when resumed: the old ones go."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    options = dict(TINY, log_every=2, sample_every=2, checkpoint_every=4, keep_checkpoints=5, tensorboard=True)
    run = ganforge.train(**options, steps=6, out=tmp_path / "r").run_dir
    shutil.rmtree(run / "checkpoints" / "step_000006")  # as if killed after logging step 6, before its checkpoint
    (run / "checkpoints" / "latest.json").unlink()
    ganforge.train(resume=run, steps=10, progress=False)
    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("train/d_loss")] == [2, 4, 6, 8, 10]
    assert [e.step for e in events.Images("samples")] == [2, 4, 6, 8, 10]


def _blank(png: bytes) -> bool:
    """Whether a screenshot is (nearly) one colour."""
    image = Image.open(io.BytesIO(png)).convert("L")
    return max(ImageStat.Stat(image).stddev) < 5


# .ci/run installs Chromium and sets GANFORGE_REQUIRE_BROWSER, so that CI cannot pass with these tests skipped
needs_browser = pytest.mark.skipif(find_chromium() is None and not os.environ.get("GANFORGE_REQUIRE_BROWSER"),
                                   reason="needs Chromium (Debian: apt install chromium; .ci/run does)")


@needs_browser
def test_reports_render_in_a_real_browser_offline_and_the_slider_moves(runs, tmp_path):
    pages = {name: build_report([path]) for name, path in runs.items()}
    pages["compare"] = build_report([runs["image"], runs["interrupted"]], tmp_path / "compare.html")
    with Browser() as browser:
        for name, page in pages.items():
            browser.open(page)
            assert browser.console_errors() == [], name
            assert browser.requests() == [], name
            assert browser.evaluate("document.querySelectorAll('#curves svg, .charts svg').length") >= 1, name
            shot = browser.screenshot()
            assert not _blank(shot), name
        browser.open(pages["image"])
        curves = browser.evaluate("document.querySelector('#curves').getBoundingClientRect().height")
        latest = browser.evaluate("(() => { const i = document.querySelector('#frames figure.current img'); "
                                  "const r = i.getBoundingClientRect(); "
                                  "return [i.complete && i.naturalWidth > 0, r.width, r.height]; })()")
        assert curves > 200 and latest[0] and latest[1] > 100 and latest[2] > 100
        caption = "document.querySelector('#frames figure.current figcaption').textContent"
        assert browser.evaluate(caption).startswith("step 30")
        browser.evaluate("(() => { const s = document.querySelector('.slider input'); s.value = 0; "
                         "s.dispatchEvent(new Event('input')); })()")
        assert browser.evaluate(caption).startswith("step 10")
        assert browser.evaluate("document.querySelectorAll('#frames figure.current').length") == 1
        (tmp_path / "report.png").write_bytes(browser.screenshot())


@needs_browser
def test_with_javascript_off_every_grid_stands_in_a_filmstrip(runs):
    page = build_report([runs["image"]])
    with Browser() as browser:
        browser.call("Emulation.setScriptExecutionDisabled", value=True)
        browser.open(page)
        shown = browser.evaluate  # evaluated by the protocol, which runs even with the page's scripts off
        assert shown("[...document.querySelectorAll('#frames img')].filter(i => i.getBoundingClientRect().height "
                     "> 100 && i.complete && i.naturalWidth > 0).length") == 3
        assert shown("document.querySelector('#curves').getBoundingClientRect().height") > 200
        assert not _blank(browser.screenshot())


@needs_browser
def test_a_blank_report_is_caught(tmp_path):
    """The screenshot check is not vacuous: an empty page fails it."""
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body></body></html>")
    with Browser() as browser:
        browser.open(page)
        assert _blank(browser.screenshot())


def test_names_are_escaped_and_the_command_trains_the_run_again(runs, tmp_path):
    from ganforge.cli import build_parser
    from ganforge.config import build_config

    odd = tmp_path / "<script>alert(1)</script>"
    shutil.copytree(runs["image"], odd)
    page = build_report([odd]).read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    for name in ("image", "table"):
        view = __import__("ganforge.report", fromlist=["RunView"]).RunView(runs[name])
        words = __import__("shlex").split(view.command())
        args = vars(build_parser().parse_args(words[1:]))
        given = {k: v for k, v in args.items()
                 if k not in ("command", "debug", "config", "resume", "quiet", "out", "nproc", "argv")}
        again = build_config(given).to_json()
        stored = json.loads((runs[name] / "config.json").read_text())["config"]
        if name == "image":  # every option comes back as it was
            assert {k: again[k] for k in stored if k != "out"} == {k: v for k, v in stored.items() if k != "out"}
        else:  # tables store their own option names
            assert (again["epochs"], again["batch_size"], again["data"]) == (3, 100, stored["data"])
        assert args["out"].endswith("-again")


def test_images_lose_no_torch_state(runs):
    """Building a report draws no random numbers: a training run's RNG stream is not disturbed by it."""
    state = torch.get_rng_state()
    build_report([runs["image"]])
    assert torch.equal(state, torch.get_rng_state())


def test_sample_grids_follow_the_umask_like_every_other_file(tmp_path):
    """Grids are written through a temporary file; they must not end up owner-only (mkstemp's 0600)."""
    from ganforge.data.export import save_samples

    umask = os.umask(0o022)
    try:
        path = save_samples(torch.rand(4, 1, 8, 8), "image", tmp_path / "grid.png")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_conditional_augmented_run_shows_class_names_by_row_and_its_augmentation(tmp_path):
    root = tmp_path / "pets"
    for name, colour in (("cat", (200, 40, 40)), ("dog", (40, 40, 200))):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (40, 40), tuple(c + 5 * i for c in colour)).save(root / name / f"{i}.png")
    run = ganforge.train(data=str(root), model="fastgan", image_size=32, g_width=4, d_width=4, latent_dim=16,
                         batch_size=8, augment_p="ada", steps=8, log_every=4, sample_every=8, threads=1,
                         precision="fp32", progress=False, out=tmp_path / "run").run_dir
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["conditional"]["grid_rows"] == ["cat", "dog"]  # one row of 8 fixed samples per class
    assert config["augmentation"] == {"adaptive": True}
    page = build_report([run]).read_text()
    assert page.count("<li>cat</li>") == page.count("<li>dog</li>") == 1  # beside the one grid's rows
    assert re.search(r"<td>augmentation</td><td>adaptive \(ADA\): p \d\.\d\d at the last log line", page)
    assert "adaptive augmentation: p, and r_t" in page  # the curve of p
    plain = build_report([runs_without_classes(tmp_path)]).read_text()
    assert "row-labels" not in plain.split("</style>")[1] and "<td>augmentation</td><td>none</td>" in plain


def runs_without_classes(tmp_path):
    return ganforge.train(**TINY, steps=4, log_every=4, sample_every=4, out=tmp_path / "plain").run_dir
