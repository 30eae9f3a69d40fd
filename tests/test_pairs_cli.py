"""`ganforge train --task ...` and `ganforge translate`: a pix2pix run folder, translation of images of any size,
resume, and one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ganforge.cli import main
from ganforge.kinds.pairs import load_translator
from ganforge.training import checkpoint as ckpt

TINY = ["--image-size", "16", "--g-width", "8", "--d-width", "8", "--batch-size", "4", "--threads", "1",
        "--log-every", "5", "--sample-every", "10", "--checkpoint-every", "10", "--quiet"]


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:24, 0:24] / 24
    for i in range(10):
        g = (np.sin(rng.uniform(2, 8) * x + rng.uniform(2, 8) * y) + 1) / 2
        Image.fromarray((np.stack([g, 0.5 + 0 * g, 1 - g], 2) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_a_gray2color_run_trains_resumes_and_translates_images_of_any_size(tmp_path, photos, capsys):
    run = tmp_path / "run"
    assert main(["train", "--task", "gray2color", "--data", str(photos), "--steps", "10", "--out", str(run),
                 *TINY]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "pairs" and config["data"]["pairs"] == 10 and config["data"]["a_channels"] == 1
    strip = Image.open(run / "samples" / "final.png")
    assert strip.size == (3 * 16, 8 * 16)  # input | output | target, 8 pairs
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "l1" in r] == [5, 10]
    assert main(["train", "--resume", str(run), "--steps", "20", "--quiet"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "l1" in r] == [5, 10, 15, 20]
    Image.open(photos / "3.png").convert("L").resize((37, 21)).save(tmp_path / "gray.png")
    assert main(["translate", str(run), str(tmp_path / "gray.png"), "--out", str(tmp_path / "colour.png")]) == 0
    colour = Image.open(tmp_path / "colour.png")
    assert colour.size == (37, 21) and colour.mode == "RGB"
    assert main(["translate", str(run), str(photos), "--out", str(tmp_path / "all"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == [f"{i}.png" for i in range(10)]
    held_out = tmp_path / "held"
    held_out.mkdir()
    for i in (1, 2):
        Image.open(photos / f"{i}.png").transpose(Image.Transpose.ROTATE_90).save(held_out / f"{i}.png")
    assert main(["eval", str(run), "--real", str(held_out)]) == 0
    report = json.loads((run / "eval.json").read_text())
    assert report["held_out"] and report["pairs"] == 2 and report["step"] == 20
    assert 0 < report["l1"] < 2 and 5 < report["psnr_y"] < 100 and -1 < report["ssim_y"] < 1
    assert report["fd"] > 0 and report["fd_items"] == 2 and "kid_std" in report  # outputs against targets, as a set
    assert main(["eval", str(run), "--real", str(held_out), "--metrics", "psnr"]) == 0
    report = json.loads((run / "eval.json").read_text())
    assert "psnr_y" in report and not {"l1", "ssim_y", "fd", "kid"} & set(report)
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "psnr,niqe"]) == 2
    assert "--metrics niqe: a pix2pix run is measured by some of l1,psnr,ssim,fd,kid" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("command, message", [
    (["train", "--task", "sharpen", "--data", "{photos}"], "option --task must be one of paired, edges2photo"),
    (["train", "--task", "paired", "--data", "{photos}"], "image .*0.png is 24×24, not two images side by side"),
    (["train", "--task", "inpaint", "--data", "{missing}"], "--data .*nowhere: a folder of images was expected"),
    (["train", "--task", "gray2color", "--data", "{photos}", "--gan-weight", "-1"],
     "option --gan-weight must be 0 or more, got -1"),
    (["train", "--task", "sr", "--data", "{photos}", "--gan-weight", "0"],
     "option --gan-weight weighs pix2pix's GAN term"),
    (["train", "--task", "unpaired", "--data", "{photos}", "--data-b", "{photos}", "--augment-p", "ada"],
     "option --augment-p applies to pix2pix and super-resolution runs; CycleGAN's least-squares D"),
])
def test_bad_image_to_image_input_gets_one_line_and_exit_2(tmp_path, photos, capsys, command, message):
    import re

    args = [a.format(photos=photos, missing=tmp_path / "nowhere") for a in command]
    assert main([*args, "--steps", "2", "--out", str(tmp_path / "run"), *TINY]) == 2
    error = capsys.readouterr().err.strip()
    assert re.search(message, error) and len(error.splitlines()) == 1, error
    assert not (tmp_path / "run").exists()  # a refused run leaves no folder


def test_an_image_to_image_run_refuses_sampling_and_task_changes_in_one_line(tmp_path, photos, capsys):
    run = tmp_path / "run"
    assert main(["train", "--task", "denoise", "--data", str(photos), "--steps", "2", "--out", str(run), *TINY]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--out", str(tmp_path / "x.png")]) == 2
    assert "translates images rather than sampling noise: ganforge translate" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--steps", "4", "--task", "inpaint", "--quiet"]) == 2
    assert "option --task cannot change when resuming" in capsys.readouterr().err
    assert main(["translate", str(run), str(tmp_path / "none.png"), "--out", str(tmp_path / "o.png")]) == 2
    assert "input " in capsys.readouterr().err


def test_an_unpaired_run_trains_resumes_translates_and_measures_its_cycle(tmp_path, photos, capsys):
    gray = tmp_path / "gray"
    gray.mkdir()
    for i in range(6):
        Image.open(photos / f"{i}.png").convert("L").transpose(Image.Transpose.ROTATE_90).save(gray / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--task", "unpaired", "--data", str(gray), "--data-b", str(photos), "--steps", "4",
                 "--ema", "0.5", "--out", str(run), *TINY]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["name"] == "cyclegan" and config["data"]["images_b"] == 10
    assert config["model"]["options"]["ema"] == 0.5
    assert main(["train", "--resume", str(run), "--steps", "6", "--quiet"]) == 0
    weights = load_file(str(ckpt.find_checkpoint(run) / ckpt.MODELS_FILE))
    translator, _ = load_translator(run)  # the average translates where the run kept one
    assert {"generator_ema", "generator_ba_ema"} <= {key.split(".")[0] for key in weights}
    for name, value in translator.state_dict().items():
        assert torch.equal(value, weights[f"generator_ema.{name}"]), name
    assert not all(torch.equal(weights[f"generator_ema.{name}"], weights[f"generator.{name}"])
                   for name, _ in translator.named_parameters())
    assert main(["translate", str(run), str(gray / "1.png"), "--out", str(tmp_path / "c.png")]) == 0
    assert Image.open(tmp_path / "c.png").mode == "RGB"
    assert main(["eval", str(run)]) == 0
    report = json.loads((run / "eval.json").read_text())
    assert report["step"] == 6 and report["pairs"] == 6 and 0 < report["cycle"] < 2
    assert report["fd"] > 0 and report["fd_items"] == 6  # G(A) against the images of domain B
    capsys.readouterr()
    assert main(["train", "--task", "unpaired", "--data", str(gray), "--steps", "2", "--out", str(tmp_path / "x"),
                 *TINY]) == 2
    assert "option --task unpaired needs --data-b FOLDER" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_checkpoint_ranking_value_of_each_image_to_image_model(tmp_path):
    from ganforge.config import build_config
    from ganforge.errors import GanforgeError
    from ganforge.kinds.pair_eval import TrainingEvaluation

    def best(model: str, **options) -> str:
        config = build_config({"data": str(tmp_path), "task": "gray2color", "eval_every": 5,
                               "eval_real": str(tmp_path), **options})
        return TrainingEvaluation(config, model, {}).best_metric

    assert best("pix2pix", eval_metrics="l1,psnr") == "l1"  # without FD: the L1 to held-out targets
    assert best("cyclegan", eval_metrics="cycle") == "cycle"
    assert best("srresnet", eval_metrics="psnr,ssim") == "psnr_y"  # BasicSR's choice
    assert best("pix2pix", eval_metrics="l1,ssim", best_metric="ssim_y") == "ssim_y"
    with pytest.raises(GanforgeError, match="--best-metric psnr_y is not measured while training this pix2pix run"):
        best("pix2pix", eval_metrics="l1", best_metric="psnr_y")
    with pytest.raises(GanforgeError, match="--eval-real .*nowhere: no such folder"):
        best("pix2pix", eval_real=str(tmp_path / "nowhere"))


def test_pix2pix_evaluated_while_training_gives_what_eval_gives_on_the_best_checkpoint(tmp_path, photos):
    held_out = tmp_path / "held_out"
    held_out.mkdir()
    for i in range(3):  # the photos turned: other images, the same kind
        Image.open(photos / f"{i}.png").transpose(Image.Transpose.ROTATE_90).save(held_out / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--task", "gray2color", "--data", str(photos), "--steps", "6", "--eval-every", "2",
                 "--eval-real", str(held_out), "--eval-metrics", "l1,psnr", "--out", str(run), *TINY]) == 0
    evals = {json.loads(line)["step"]: json.loads(line)["eval"]
             for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line}
    assert sorted(evals) == [2, 4, 6] and all(set(e) >= {"l1", "psnr_y", "pairs"} for e in evals.values())
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "l1" and best["value"] == min(e["l1"] for e in evals.values())
    assert main(["eval", str(run), "--real", str(held_out), "--metrics", "l1,psnr", "--checkpoint", "best"]) == 0
    report = json.loads((run / "eval.json").read_text())
    assert report["step"] == best["step"]
    assert report["l1"] == pytest.approx(evals[best["step"]]["l1"], rel=1e-6)  # dropout on, seeded alike
    assert report["psnr_y"] == pytest.approx(evals[best["step"]]["psnr_y"], rel=1e-6)
