"""Projecting photos into a trained generator: the loss falls to the latent that made an image, and
`ganforge project` writes the latents, a photo | reconstruction strip and each photo's PSNR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import ganforge
from ganforge.cli import main
from ganforge.data.base import IMAGE, Codec
from ganforge.errors import GanforgeError
from ganforge.kinds.generator import TrainedGenerator
from ganforge.kinds.projection import morph, project


def _tiny() -> TrainedGenerator:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))
    return TrainedGenerator(net, Codec(IMAGE, (1, 8, 8)), "normal", 8, torch.device("cpu"), Path("."), 0)


def test_projection_finds_an_image_the_generator_can_make():
    generator = _tiny()
    wanted = torch.randn(3, 8, generator=torch.Generator().manual_seed(7))
    photos = generator.generate(wanted)
    found = project(generator, photos, steps=300, starts=4, seed=1)
    assert found.losses[-1] < 0.05 * found.losses[0], (found.losses[0], found.losses[-1])
    assert min(found.psnr) > 30 and found.images.shape == photos.shape
    frames = morph(generator, found.latents[0], found.latents[1], 5)
    assert frames.shape == (5, 1, 8, 8)
    torch.testing.assert_close(frames[0], found.images[0], atol=1e-4, rtol=0)


def test_project_on_a_run_writes_latents_a_strip_and_psnr(tmp_path, capsys):
    run = ganforge.train("digits", image_size=16, g_width=8, d_width=8, latent_dim=16, steps=2, threads=1,
                         progress=False, out=tmp_path / "run", precision="fp32", sample_every=1000)
    photo = tmp_path / "seven.png"
    Image.fromarray((np.eye(24)[::-1] * 255).astype(np.uint8)).save(photo)
    out = tmp_path / "latent.npz"
    assert main(["project", str(run.run_dir), str(photo), "--out", str(out), "--steps", "20", "--quiet"]) == 0
    stored = np.load(out)  # plain arrays: no pickles
    assert stored["latents"].shape == (1, 16) and stored["psnr"].shape == (1,)
    assert Image.open(out.with_suffix(".png")).size[0] > Image.open(out.with_suffix(".png")).size[1]
    assert "PSNR" in capsys.readouterr().out
    morph = tmp_path / "morph.png"
    assert main(["interpolate", str(run.run_dir), "--from-image", str(photo), "--to-image", str(photo), "--frames",
                 "4", "--out", str(morph), "--quiet"]) == 0
    assert Image.open(morph).size[0] > 5 * Image.open(morph).size[1]  # one row: photo, 4 frames, photo
    assert main(["project", str(run.run_dir), str(photo), "--out", str(tmp_path / "x.txt")]) == 2
    with pytest.raises(GanforgeError, match="the photos are"):
        project(ganforge.load(run.run_dir), torch.rand(1, 3, 9, 9))


def test_a_projected_photo_is_edited_along_the_class_embedding(tmp_path, capsys):
    from ganforge.kinds.projection import class_walk

    run = ganforge.train("digits", conditional=True, image_size=16, g_width=8, d_width=8, latent_dim=16, steps=2,
                         threads=1, progress=False, out=tmp_path / "run", precision="fp32", sample_every=1000)
    photo = tmp_path / "three.png"
    Image.fromarray((np.eye(16)[::-1] * 255).astype(np.uint8)).save(photo)
    generator = ganforge.load(run.run_dir)
    found = project(generator, torch.from_numpy(np.eye(16)[::-1].copy()).float()[None, None], steps=10, label="3")
    frames = class_walk(generator, found.latents[0], "3", "8", 4)
    assert frames.shape == (4, 1, 16, 16)
    torch.testing.assert_close(frames[0], found.images[0], atol=1e-5, rtol=0)  # the walk starts at the projection
    ends_at = generator.generate(found.latents[:1], generator.labels_for(1, "8"))[0]
    torch.testing.assert_close(frames[-1], ends_at, atol=1e-5, rtol=0)  # and ends at class 8, the latent held
    assert not torch.equal(frames[-1], frames[0])
    out = tmp_path / "edit.png"
    assert main(["interpolate", str(run.run_dir), "--from-image", str(photo), "--from", "3", "--to", "8",
                 "--frames", "4", "--out", str(out), "--quiet"]) == 0
    assert "moved to class 8 in 4 frames" in capsys.readouterr().out
    assert Image.open(out).size[0] > 4 * Image.open(out).size[1]  # one row: the photo and 4 frames
    assert main(["interpolate", str(run.run_dir), "--from-image", str(photo), "--to", "8", "--out", str(out)]) == 2
    assert "option --from CLASS: the photo's own class" in capsys.readouterr().err
