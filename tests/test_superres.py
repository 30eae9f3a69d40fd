"""Super-resolution: seeded, exact degradations; SRResNet starts at bicubic; the task learns more than bicubic gives
and resumes bit-identically across its phase change; `ganforge train --task sr`, `eval` and `enhance`."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from sklearn.datasets import load_sample_image

from ganforge.cli import main
from ganforge.data.images import to_tensor
from ganforge.data.superres import SRPhotos, degrade, downscaled, evaluation_pairs, read_sr_photos, upscaled
from ganforge.metrics.niqe import niqe
from ganforge.metrics.pairs import psnr_y
from ganforge.models.superres import SRResNet
from ganforge.models.translation import tiled
from ganforge.training import checkpoint as ckpt
from ganforge.training.loop import LoopOutput, LoopSettings, TrainingLoop
from ganforge.training.superres import SROptions, SuperResTask, perceptual_network
from ganforge.training.translation import to_model

TINY = SROptions(scale=2, patch=24, width=16, blocks=2, d_width=8, d_layers=2, batch_size=8, lr=1e-3,
                 perceptual="none", seed=0)


def _stripes(n: int, seed: int, size: int = 48) -> list[torch.Tensor]:
    """Sharp diagonal stripes in colour: detail that bicubic blurs and that a network can learn to restore."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    photos = []
    for _ in range(n):
        period, angle = rng.uniform(5, 9), rng.uniform(0, np.pi)
        wave = np.sign(np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period + rng.uniform(0, 6)))
        colour = rng.uniform(40, 215, 3)
        image = np.clip(colour[:, None, None] + 40 * wave[None], 0, 255)
        photos.append(torch.from_numpy(image.round().astype(np.uint8)))
    return photos


def _photos(n: int = 12, seed: int = 0, options: SROptions = TINY) -> SRPhotos:
    return SRPhotos(_stripes(n, seed), [str(i) for i in range(n)], options.patch, options.scale)


def _loop(task: SuperResTask, steps: int, folder=None) -> TrainingLoop:
    settings = LoopSettings(steps, log_every=5, sample_every=10_000, checkpoint_every=3, keep_checkpoints=5,
                            diagnose=False, probabilistic=False, description="upscaling")
    return TrainingLoop(task, settings, LoopOutput(checkpoints=folder), progress=False, threads=1)


def test_degradations_are_seeded_and_exact():
    photos = SRPhotos(_stripes(4, 0), list("abcd"), 24, 4, "real")
    low, high = photos.batch(5, 6, seed=3)
    again_low, again_high = photos.batch(5, 6, seed=3)
    assert low.shape == (6, 3, 6, 6) and high.shape == (6, 3, 24, 24) and low.dtype == torch.uint8
    assert torch.equal(low, again_low) and torch.equal(high, again_high)
    assert not torch.equal(photos.batch(6, 6, seed=3)[1], high)  # another step, other crops
    crop = high[0]
    bicubic = degrade(crop, 4, "bicubic", np.random.default_rng(0))
    assert torch.equal(bicubic, to_tensor(downscaled(Image.fromarray(crop.permute(1, 2, 0).numpy()), 4)))
    real = [degrade(crop, 4, "real", np.random.default_rng(seed)) for seed in (0, 0, 1)]
    assert torch.equal(real[0], real[1]) and not torch.equal(real[0], real[2])
    assert not torch.equal(real[0], bicubic)  # blur, noise and JPEG changed it


def test_crops_are_windows_of_the_photos_up_to_a_flip_and_a_turn():
    photo = torch.arange(3 * 40 * 50, dtype=torch.int64).reshape(3, 40, 50)  # every pixel unique
    photos = SRPhotos([photo], ["p"], 16, 4)
    for crop in photos.crops(0, 8, seed=1):
        views = [torch.rot90(crop, -k, (1, 2)) for k in range(4)]
        found = False
        for view in views + [v.flip(-1) for v in views]:
            top, left = divmod(int(view[0, 0, 0]), 50)
            found |= top + 16 <= 40 and left + 16 <= 50 and torch.equal(view, photo[:, top:top + 16, left:left + 16])
        assert found


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_an_untrained_srresnet_is_exactly_bicubic(scale):
    torch.manual_seed(0)
    network = SRResNet(3, width=8, blocks=1, scale=scale).eval()
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        out = network(x)
    assert out.shape == (2, 3, 8 * scale, 8 * scale)
    assert torch.equal(out, F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False))


def test_tiled_upscaling_equals_one_pass_when_the_overlap_covers_the_networks_reach():
    torch.manual_seed(0)
    network = SRResNet(3, width=8, blocks=1, scale=2).eval()
    torch.nn.init.normal_(network.tail.weight, 0, 0.05)  # a network that adds something to bicubic
    image = torch.rand(3, 100, 90) * 2 - 1
    with torch.no_grad():
        whole = network(image[None])[0]
    # its reach is about 4 + 2 + 1 + 1 + 2 input pixels (head, block, body, upsampling, tail): a quarter of 44 covers it
    out = tiled(network, image, tile=64, overlap=44, scale=2)
    assert out.shape == whole.shape == (3, 200, 180)
    assert torch.allclose(out, whole, atol=1e-5)
    assert not torch.allclose(tiled(network, image, tile=64, overlap=0, scale=2), whole, atol=1e-3)


def test_sr_learns_the_detail_bicubic_loses_and_resumes_bit_identically(tmp_path):
    torch.set_num_threads(1)
    options = SROptions(**{**TINY.__dict__, "pixel_steps": 200, "lr": 2e-3})
    held_out = [(to_model(to_tensor(downscaled(Image.fromarray(h.permute(1, 2, 0).numpy()), 2)))[None], h[None])
                for h in _stripes(4, 9)]
    task = SuperResTask(_photos(options=options), options)

    def psnr() -> float:
        return float(np.mean([psnr_y(((task.upscale(low).clamp(-1, 1) + 1) * 127.5).round(), high.float())
                              for low, high in held_out]))

    start = psnr()  # the untrained network is bicubic
    _loop(task, 200).fit()
    # measured on an AMD EPYC at fp32 over seeds 0-2: bicubic 24.4 dB, after 200 steps 25.5-25.8 dB
    assert psnr() > start + 0.5, (start, psnr())
    # the GAN phase resumes exactly where the pixel phase left it
    small = SROptions(**{**TINY.__dict__, "pixel_steps": 3, "ema": 0.9, "augment_p": "0.5"})  # with EMA and ADA
    _loop(SuperResTask(_photos(4), small), 6, tmp_path / "straight").fit()
    _loop(SuperResTask(_photos(4), small), 4, tmp_path / "split").fit()
    resumed = _loop(SuperResTask(_photos(4), small), 6, tmp_path / "split")
    resumed.restore(ckpt.find_checkpoint_in(tmp_path / "split"))
    resumed.fit()
    straight, split = (load_file(str(ckpt.find_checkpoint_in(tmp_path / name) / ckpt.MODELS_FILE))
                       for name in ("straight", "split"))
    assert any(k.startswith("discriminator.") for k in straight) and any(k.startswith("generator_ema.")
                                                                          for k in straight)
    for name in straight:
        assert torch.equal(straight[name], split[name]), name


def test_the_gan_phase_trains_at_its_own_learning_rate():
    # ESRGAN: the GAN phase at 1e-4; at the pixel phase's 1e-3 it undid 3 dB of PSNR in 1,000 steps (bench)
    task = SuperResTask(_photos(4), SROptions(**{**TINY.__dict__, "pixel_steps": 2, "lr": 1e-3, "gan_lr": 1e-4}))
    rates, step_once = [], task.train_step

    def recording(step: int, measure: bool) -> torch.Tensor:
        rates.append((task.opt_g.param_groups[0]["lr"], task.opt_d.param_groups[0]["lr"]))
        return step_once(step, measure)

    task.train_step = recording
    _loop(task, 4).fit()
    assert rates == [(1e-3, 1e-3)] * 2 + [(pytest.approx(1e-4), pytest.approx(1e-4))] * 2


def test_the_perceptual_network_is_chosen_or_refused_by_name(tmp_path):
    assert perceptual_network("none") is None
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="--inception-weights"):
        perceptual_network("inception", tmp_path / "missing.pt")
    with pytest.raises(GanforgeError, match="--perceptual"):
        perceptual_network("vgg")


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, photo in enumerate(_stripes(5, 0)):
        Image.fromarray(photo.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    return folder


SR_FLAGS = ["--scale", "2", "--image-size", "24", "--g-width", "8", "--d-width", "8", "--batch-size", "4",
            "--perceptual", "none", "--threads", "1", "--log-every", "2", "--sample-every", "4",
            "--checkpoint-every", "4", "--quiet"]


def test_an_sr_run_trains_resumes_evaluates_and_enhances(tmp_path, photo_folder, capsys):
    run = tmp_path / "run"
    assert main(["train", "--task", "sr", "--data", str(photo_folder), "--steps", "4", "--out", str(run),
                 *SR_FLAGS]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["name"] == "srresnet" and config["config"]["pixel_steps"] == 2
    assert Image.open(run / "samples" / "final.png").size == (3 * 24, 6 * 24)  # bicubic | ours | HR, 6 rows
    phases = [json.loads(line).get("phase") for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert phases[:2] == ["pixels", "gan"]
    assert main(["train", "--resume", str(run), "--steps", "6", "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["config"]["pixel_steps"] == 2  # kept when resuming
    assert main(["eval", str(run), "--real", str(photo_folder)]) == 0
    report = json.loads((run / "eval.json").read_text())
    assert report["scale"] == 2 and report["border_crop"] == 2 and report["pairs"] == 5
    # the untrained network is bicubic, and 6 steps move it little: the two are within a few dB
    assert abs(report["psnr_y"] - report["bicubic_psnr_y"]) < 5
    assert report["fd"] >= 0 and report["bicubic_fd"] >= 0 and "kid" in report and "bicubic_kid" in report
    pairs = evaluation_pairs(photo_folder, 2)
    bicubic = to_tensor(upscaled(Image.fromarray(pairs[0][1].permute(1, 2, 0).numpy()), 2))
    assert report["per_image"]["0.png"]["bicubic_psnr_y"] == pytest.approx(
        psnr_y(bicubic[None].float(), pairs[0][2][None].float(), crop=2))
    assert "niqe" not in report  # the photos are under NIQE's two 96-pixel blocks: left out, with a warning
    big = tmp_path / "big"
    big.mkdir()
    Image.fromarray(load_sample_image("china.jpg")).save(big / "china.png")
    assert main(["eval", str(run), "--real", str(big), "--metrics", "niqe"]) == 0
    niqe_report = json.loads((run / "eval.json").read_text())
    _, low, high = evaluation_pairs(big, 2)[0]
    assert niqe_report["high_niqe"] == pytest.approx(niqe(high, crop=2))
    bicubic = to_tensor(upscaled(Image.fromarray(low.permute(1, 2, 0).numpy()), 2))
    assert niqe_report["bicubic_niqe"] == pytest.approx(niqe(bicubic, crop=2))
    assert abs(niqe_report["niqe"] - niqe_report["high_niqe"]) > 1e-3  # the run's own outputs, not the originals
    assert "psnr_y" not in niqe_report and "niqe" in niqe_report["per_image"]["china.png"]
    (run / "eval.json").write_text(json.dumps(report))
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "Bicubic | ours | high resolution over training" in page and f"{report['psnr_y']:.4f}" in page
    small = tmp_path / "small.png"
    Image.fromarray(np.full((13, 30, 3), 90, np.uint8)).save(small)
    assert main(["enhance", str(run), str(small), "--out", str(tmp_path / "big.png")]) == 0
    assert Image.open(tmp_path / "big.png").size == (60, 26)
    capsys.readouterr()
    assert main(["sample", str(run), "--out", str(tmp_path / "x.png")]) == 2
    assert main(["enhance", str(run), str(tmp_path / "nothing.png"), "--out", str(tmp_path / "b.png")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "translates images" in errors[0] and "nothing.png" in errors[1]


@pytest.mark.parametrize("extra, message", [
    (["--scale", "5"], "--scale must be one of 2, 3, 4, 8"),
    (["--degradation", "gauss"], "--degradation must be one of bicubic, real"),
    (["--image-size", "100"], "smaller than the 100-pixel crops"),
    (["--image-size", "30", "--scale", "4"], "multiple of --scale 4"),
    (["--perceptual", "vgg"], "--perceptual must be one of auto, inception, none"),
    (["--sr-generator", "edsr"], "--sr-generator must be one of srresnet, rrdb"),
])
def test_bad_sr_input_gets_one_line_and_exit_2(tmp_path, photo_folder, capsys, extra, message):
    flags = [*SR_FLAGS, *extra]
    assert main(["train", "--task", "sr", "--data", str(photo_folder), "--steps", "2",
                 "--out", str(tmp_path / "r"), *flags]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert not (tmp_path / "r").exists()  # nothing is left behind


def test_read_sr_photos_names_a_photo_too_small(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    Image.fromarray(np.zeros((20, 40, 3), np.uint8)).save(folder / "tiny.png")
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="tiny.png is 40×20"):
        read_sr_photos(folder, 24, 2)


def test_eval_every_keeps_the_best_checkpoint_by_held_out_psnr(tmp_path, photo_folder, capsys):
    held_out = tmp_path / "held_out"
    held_out.mkdir()
    for i, photo in enumerate(_stripes(3, 7)):
        Image.fromarray(photo.permute(1, 2, 0).numpy()).save(held_out / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--task", "sr", "--data", str(photo_folder), "--steps", "6", "--pixel-steps", "6",
                 "--eval-every", "2", "--eval-real", str(held_out), "--lr-g", "2e-3", "--out", str(run),
                 *SR_FLAGS]) == 0
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert [record["step"] for record in evals] == [2, 4, 6]
    psnrs = {record["step"]: record["eval"]["psnr_y"] for record in evals}
    assert all("bicubic_psnr_y" in record["eval"] and "niqe" not in record["eval"] for record in evals)
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "psnr_y" and best["value"] == max(psnrs.values())
    assert best["step"] == max(psnrs, key=psnrs.get)
    # the best checkpoint is what eval, enhance and translate take with --checkpoint best
    assert main(["eval", str(run), "--real", str(held_out), "--metrics", "psnr", "--checkpoint", "best"]) == 0
    report = json.loads((run / "eval.json").read_text())
    assert report["step"] == best["step"] and report["psnr_y"] == pytest.approx(best["value"])
    assert main(["enhance", str(run), str(held_out / "0.png"), "--out", str(tmp_path / "big.png"),
                 "--checkpoint", "best"]) == 0
    capsys.readouterr()
    assert main(["enhance", str(run), str(held_out / "0.png"), "--out", str(tmp_path / "x.png"),
                 "--checkpoint", "step_000099"]) == 2
    assert "--checkpoint step_000099: no checkpoint there" in capsys.readouterr().err
    assert main(["train", "--task", "sr", "--data", str(photo_folder), "--steps", "2", "--eval-every", "1",
                 "--best-metric", "fd_items", "--out", str(tmp_path / "y"), *SR_FLAGS]) == 2
    assert "fd_items is not a value that ranks checkpoints" in capsys.readouterr().err


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_an_untrained_rrdb_is_exactly_bicubic_and_trains(scale, tmp_path):
    from ganforge.models.superres import RRDBNet

    torch.manual_seed(0)
    network = RRDBNet(3, width=8, blocks=1, scale=scale, growth=4).eval()
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        out = network(x)
    assert out.shape == (2, 3, 8 * scale, 8 * scale)
    assert torch.equal(out, F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False))
    if scale == 2:  # it trains in the shared loop and is rebuilt from the checkpoint by its name
        options = SROptions(**{**TINY.__dict__, "generator": "rrdb", "rrdb_blocks": 1, "growth": 4,
                               "pixel_steps": 4})
        task = SuperResTask(_photos(options=options), options)
        _loop(task, 4, tmp_path / "rrdb").fit()
        assert isinstance(task.generator, RRDBNet)
        from ganforge.training.superres import build_sr_generator

        rebuilt = build_sr_generator(dataclasses.asdict(options))
        weights = load_file(str(ckpt.find_checkpoint_in(tmp_path / "rrdb") / ckpt.MODELS_FILE))
        rebuilt.load_state_dict({k.removeprefix("generator."): v for k, v in weights.items()
                                 if k.startswith("generator.")})
        low = to_model(_photos(2, 5, options).batch(0, 2, 0)[0])
        torch.testing.assert_close(rebuilt.eval()(low), task.upscale(low))


def test_an_rrdb_run_trains_and_enhances_from_the_command_line(tmp_path, photo_folder):
    run = tmp_path / "run"
    assert main(["train", "--task", "sr", "--data", str(photo_folder), "--steps", "2", "--sr-generator", "rrdb",
                 "--out", str(run), *SR_FLAGS]) == 0
    assert json.loads((run / "config.json").read_text())["model"]["options"]["generator"] == "rrdb"
    assert main(["enhance", str(run), str(photo_folder / "0.png"), "--out", str(tmp_path / "big.png")]) == 0
    assert Image.open(tmp_path / "big.png").size == (96, 96)
