"""The photo model (fastgan), adaptive augmentation (ADA), `--model auto` for photo folders and the monitor's
discriminator-overfitting rule."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.diagnostics import HealthMonitor, Observation
from ganforge.errors import GanforgeError
from ganforge.models import MODELS, build_models
from ganforge.models.fastgan import reconstructing
from ganforge.regularizers.ada import AdaptiveAugment, augment

TINY = {"g_width": 4, "d_width": 4, "latent_dim": 16, "batch_size": 8, "threads": 1, "precision": "fp32",
        "progress": False}


def _faces(folder, count=24, size=64, seed=0):
    """Grayscale blobs standing in for photos."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    for i in range(count):
        cy, cx, r = [*rng.uniform(size * 0.3, size * 0.7, 2).tolist(), rng.uniform(size * 0.15, size * 0.3)]
        face = 255 * (((yy - cy) ** 2 + (xx - cx) ** 2) < r**2)
        Image.fromarray(face.astype(np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("size", [32, 64, 128])
def test_fastgan_makes_images_and_reconstructs_only_real_ones_when_asked(size):
    generator, discriminator = build_models("fastgan", (3, size, size), MODELS["fastgan"].defaults)
    images = generator(torch.randn(4, 128))
    assert images.shape == (4, 3, size, size) and images.abs().max() <= 1
    assert discriminator(images).shape == (4,)
    with reconstructing(discriminator) as losses:
        discriminator(images.detach())
    assert len(losses) == 1 and losses[0].ndim == 0 and losses[0] > 0
    losses[0].backward()
    decoder_grads = [p.grad for p in discriminator.decoders.parameters()]
    assert all(g is not None for g in decoder_grads)
    with reconstructing(discriminator) as none:
        pass
    assert none == []  # nothing judged: nothing to learn from
    discriminator.zero_grad()
    discriminator(images.detach()).sum().backward()  # outside the block: the decoders are left alone
    assert all(p.grad is None or not p.grad.any() for p in discriminator.decoders.parameters())


def test_fastgan_rejects_sizes_it_cannot_make():
    with pytest.raises(GanforgeError, match="--image-size one of 32, 64, 128, 256"):
        build_models("fastgan", (3, 16, 16), MODELS["fastgan"].defaults)


def test_fastgan_discriminator_is_spectrally_normalised_once():
    _, discriminator = build_models("fastgan", (1, 32, 32), MODELS["fastgan"].defaults, spectral_norm=True)
    convs = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(len(m.parametrizations.weight) == 1 for m in convs)


def test_training_step_teaches_the_decoders(tmp_path):
    run = ganforge.train("digits", model="fastgan", image_size=32, steps=3, out=tmp_path / "run", **TINY)
    from safetensors.torch import load_file

    first = load_file(run.run_dir / "checkpoints" / "step_000000" / "models.safetensors")
    last = load_file(run.run_dir / "checkpoints" / "step_000003" / "models.safetensors")
    decoders = [k for k in last if ".decoders." in k and k.endswith("weight")]
    assert decoders
    assert any(not torch.equal(first[k], last[k]) for k in decoders)


def test_augment_is_identity_at_zero_and_moves_every_image_at_one():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 32, 32) * 2 - 1
    assert torch.equal(augment(x, 0.0), x)
    y = augment(x.requires_grad_(True), 1.0)
    assert y.shape == x.shape
    changed = (y.detach() - x.detach()).flatten(1).abs().amax(1) > 1e-3
    assert changed.all()
    y.sum().backward()  # differentiable: G learns through it
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_augment_at_half_leaves_some_images_untouched_in_geometry():
    torch.manual_seed(1)
    x = torch.rand(400, 1, 16, 16)
    y = augment(x, 0.5)
    # the brightness and contrast shifts keep an image's ranking of pixels; geometry changes it
    same_order = [(torch.argsort(a.flatten()) == torch.argsort(b.flatten())).float().mean() > 0.99
                  for a, b in zip(x, y, strict=True)]
    share = float(torch.tensor(same_order).float().mean())
    assert 0.5**5 * 0.5 < share < 0.2  # each of five geometric transforms is skipped with probability 0.5


def test_ada_raises_p_when_d_is_sure_of_the_real_images_and_lowers_it_when_not():
    ada = AdaptiveAugment(0.0, interval=2, speed_images=100)
    for _ in range(10):
        ada.observe(torch.full((10,), 3.0))  # r_t = 1 > 0.6
    assert ada.p == pytest.approx(1.0)  # capped
    for _ in range(4):
        ada.observe(torch.full((10,), -3.0))  # r_t = -1
    assert ada.p == pytest.approx(0.6)
    assert ada.last_rt == -1.0
    again = AdaptiveAugment(0.0)
    again.load_state_dict(json.loads(json.dumps(ada.state_dict())))
    assert again.state_dict() == ada.state_dict()
    steady = AdaptiveAugment(0.5, interval=1, speed_images=100)
    steady.observe(torch.tensor([1.0] * 16 + [-1.0] * 4))  # r_t = 0.6 exactly: p stays, as ADA's sign(0) = 0
    assert steady.p == 0.5
    packed = AdaptiveAugment(0.0, interval=1, speed_images=100)
    packed.observe(torch.full((5,), 2.0), images=10)  # packs of 2: p moves by the images, not the logits
    assert packed.p == pytest.approx(0.1)
    fixed = AdaptiveAugment(0.3, adaptive=False, interval=1)
    fixed.observe(torch.full((10,), 3.0))
    assert fixed.p == 0.3


def test_auto_chooses_fastgan_and_ada_for_a_small_photo_folder(tmp_path, caplog):
    folder = _faces(tmp_path / "faces")
    with caplog.at_level(logging.INFO, logger="ganforge"):
        run = ganforge.train(str(folder), steps=4, log_every=2, out=tmp_path / "run", **TINY)
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["model"]["name"] == "fastgan"
    assert "adaptive augmentation on: 24 images" in caplog.text and "model auto: fastgan" in caplog.text
    records = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all("augment_p" in r and "rt" in r for r in records if "d_loss" in r)
    # smaller images stay with dcgan; built-in sets keep dcgan and no augmentation
    small = ganforge.train(str(folder), image_size=32, steps=2, out=tmp_path / "small", **TINY)
    assert json.loads((small.run_dir / "config.json").read_text())["model"]["name"] == "dcgan"
    digits = ganforge.train("digits", image_size=64, steps=2, log_every=1, out=tmp_path / "digits", **TINY)
    assert json.loads((digits.run_dir / "config.json").read_text())["model"]["name"] == "dcgan"
    assert all("augment_p" not in json.loads(line) for line in (digits.run_dir / "metrics.jsonl").open())


@pytest.mark.parametrize(("flags", "message"), [
    (["--augment-p", "2"], "--augment-p must be auto, ada, off or a probability in [0, 1], got '2'"),
    (["--augment-p", "ada", "--loss", "wgan-gp"], "--augment-p ada steers by the sign of D's output"),
    (["--augment-p", "ada", "--data", "ring"], "--augment-p (adaptive augmentation) applies to images"),
])
def test_bad_augment_options_are_named(tmp_path, capsys, flags, message):
    argv = ["train", "--data", "digits", "--steps", "1", "--out", str(tmp_path / "r"), "--quiet", *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def _observation(step, rt, d_fake=0.05, augmented=False):
    return Observation(step=step, d_loss=0.1, g_loss=5.0, d_real=0.95, d_fake=d_fake, g_grad_norm=1.0,
                       d_grad_norm=1.0, rt=rt, augmented=augmented)


@pytest.mark.parametrize(("rt", "d_fake", "augmented", "raised"), [
    (0.97, 0.05, False, True),  # sure of every real image, rejects the fakes, nothing augments: overfitting
    (0.97, 0.05, True, False),  # augmentation is on: ADA is the remedy already
    (0.60, 0.05, False, False),  # ADA's target: healthy
    (0.97, 0.40, False, False),  # the fakes pass: D has not separated the training set from G
])
def test_monitor_names_discriminator_overfitting(rt, d_fake, augmented, raised):
    monitor = HealthMonitor("nonsaturating", warmup=100, patience=200)
    events = []
    for step in range(50, 1001, 50):
        events += monitor.observe(_observation(step, rt, d_fake, augmented))
    started = [e for e in events if e.kind == "start" and e.finding.name == "discriminator_overfitting"]
    assert bool(started) == raised
    if raised:
        assert started[0].finding.step == 350  # after the warm-up and a patience of 200 steps
        assert "--augment-p ada" in started[0].finding.remedy and "0.97" in started[0].finding.evidence
        series = HealthMonitor("nonsaturating", warmup=100, patience=200, samples="series")
        events = [e for s in range(50, 1001, 50) for e in series.observe(_observation(s, rt, d_fake, augmented))]
        found = next(e.finding for e in events if e.kind == "start" and e.finding.name == "discriminator_overfitting")
        assert "real series" in found.evidence and "image" not in found.evidence + found.remedy  # no image remedies
    critic = HealthMonitor("wgan-gp", warmup=100, patience=200, probabilistic=False)
    assert not [e for s in range(50, 1001, 50) for e in critic.observe(_observation(s, rt, d_fake, augmented))
                if e.finding.name == "discriminator_overfitting"]


def test_ada_checkpoints_one_state_for_every_rank_without_changing_the_next_step():
    # two ranks mid-interval with different partial sums (8 and 4); torch.distributed would sum them to 12
    ranks = [AdaptiveAugment(0.2, interval=4, speed_images=1000, reduce=lambda t: torch.full_like(t, 12.0), world=2)
             for _ in range(2)]
    ranks[0].observe(torch.full((8,), 1.0))
    ranks[1].observe(torch.tensor([1.0] * 6 + [-1.0] * 2))
    states = [ada.state_dict() for ada in ranks]
    assert states[0]["signs"] == states[1]["signs"] == 6.0  # one state fits both; the total stays 12
