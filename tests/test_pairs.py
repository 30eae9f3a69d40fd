"""Image pairs for image-to-image training: A|B images and A/ B/ folders line up, the pairs made from photos are
seeded and exact, and a pair that cannot be one ends with one line naming the file."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data.pairs import NOISE_SIGMA, read_pairs
from ganforge.errors import GanforgeError


def _photo(seed: int, size: int = 16) -> np.ndarray:
    """A smooth colour image (no resampling surprises), uint8 (size, size, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    planes = [np.sin(rng.uniform(1, 4) * x + rng.uniform(1, 4) * y + rng.uniform(0, 6)) for _ in range(3)]
    return ((np.stack(planes, 2) + 1) * 127.5).round().astype(np.uint8)


def test_side_by_side_images_split_into_aligned_halves(tmp_path):
    for i in range(3):
        a = _photo(i)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(tmp_path / f"{i}.png")  # B is A's negative
    pairs = read_pairs(tmp_path, size=16)
    assert pairs.a.shape == pairs.b.shape == (3, 3, 16, 16) and pairs.names == ["0.png", "1.png", "2.png"]
    assert torch.equal(pairs.b, 255 - pairs.a)
    assert torch.equal(pairs.a[1], torch.from_numpy(_photo(1)).permute(2, 0, 1))
    smaller = read_pairs(tmp_path, size=8)  # both halves get the same fit, so they stay aligned
    assert ((smaller.b.int() - (255 - smaller.a.int())).abs() <= 1).all()


def test_a_and_b_folders_pair_by_their_path_whatever_the_suffix(tmp_path):
    for side in ("A", "B"):
        (tmp_path / side / "street").mkdir(parents=True)
    for i, name in enumerate(["one", "street/two"]):
        photo = _photo(i)
        Image.fromarray(photo).save(tmp_path / "A" / f"{name}.png")
        Image.fromarray(photo[..., 0]).save(tmp_path / "B" / f"{name}.bmp")  # the target's red plane, gray
    pairs = read_pairs(tmp_path, size=16)
    assert pairs.names == ["one", "street/two"] and pairs.a.shape[1] == 3 and pairs.b.shape[1] == 1
    assert torch.equal(pairs.b[:, 0], pairs.a[:, 0])


def test_an_unreadable_file_is_skipped_with_one_warning(tmp_path, caplog):
    Image.fromarray(np.concatenate([_photo(0), _photo(1)], 1)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with caplog.at_level(logging.WARNING, logger="ganforge"):
        pairs = read_pairs(tmp_path, size=16)
    assert pairs.names == ["good.png"] and pairs.info["skipped"] == 1
    assert [r.message for r in caplog.records if "broken.png" in r.message] and len(caplog.records) == 1


def _write(tmp_path, files: dict[str, tuple[int, int]]) -> None:
    for name, (width, height) in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (width, height), (90, 120, 30)).save(path)


@pytest.mark.parametrize("files, task, message", [
    ({"A/x.png": (16, 16), "A/y.png": (16, 16), "B/x.png": (16, 16)}, "paired",
     r"image .*A/y.png has no partner in .*B \(expected y\.\* there\)"),
    ({"A/x.png": (16, 16), "B/x.png": (16, 12)}, "paired",
     r"pair x: .*A/x.png is 16×16 but .*B/x.png is 16×12; the two images of a pair must have one size"),
    ({"ab.png": (16, 16)}, "paired", r"image .*ab.png is 16×16, not two images side by side"),
    ({"A/x.png": (16, 16), "B/notes.txt": (0, 0)}, "paired", r"folder .*B holds no images"),
    ({"A/x.png": (16, 16)}, "paired", r"has A/ but no B/"),
    ({"x.png": (32, 16)}, "sharpen", r"option --task 'sharpen' is not an image-to-image task; choose one of paired"),
])
def test_a_pair_that_cannot_be_one_gets_one_line_naming_the_file(tmp_path, files, task, message):
    _write(tmp_path, {k: v for k, v in files.items() if k.endswith(".png")})
    for name in (k for k in files if not k.endswith(".png")):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("not an image")
    with pytest.raises(GanforgeError, match=message) as caught:
        read_pairs(tmp_path, size=16, task=task)
    assert "\n" not in str(caught.value)


def test_pairs_made_from_photos_are_seeded_and_exact(tmp_path):
    for i in range(4):
        Image.fromarray(_photo(i, 32)).save(tmp_path / f"{i}.png")
    gray = read_pairs(tmp_path, 32, "gray2color")
    assert gray.a.shape == (4, 1, 32, 32) and gray.b.shape == (4, 3, 32, 32)
    pillow = np.asarray(Image.fromarray(_photo(2, 32)).convert("L"))
    assert (np.abs(gray.a[2, 0].numpy().astype(int) - pillow) <= 1).all()  # Pillow's luma
    holes = read_pairs(tmp_path, 32, "inpaint", seed=3)
    changed = (holes.a != holes.b).any(1)
    assert changed.flatten(1).any(1).all()  # every photo lost something
    assert (holes.a.permute(1, 0, 2, 3)[:, changed] == 127).all()  # only by blanking to mid-gray
    assert torch.equal(read_pairs(tmp_path, 32, "inpaint", seed=3).a, holes.a)
    assert not torch.equal(read_pairs(tmp_path, 32, "inpaint", seed=4).a, holes.a)
    noisy = read_pairs(tmp_path, 32, "denoise", seed=0)
    residual = noisy.a.double() - noisy.b.double()
    assert abs(float(residual.std()) - NOISE_SIGMA * 255) < 2.5  # σ 25 (a little less where 0 and 255 clip)
    assert torch.equal(read_pairs(tmp_path, 32, "denoise", seed=0).a, noisy.a)


def test_edges_are_dark_lines_on_white_where_the_photo_has_edges(tmp_path):
    square = np.full((32, 32, 3), 200, np.uint8)
    square[8:24, 8:24] = 40
    Image.fromarray(square).save(tmp_path / "square.png")
    edges = read_pairs(tmp_path, 32, "edges2photo").a[0, 0]
    dark = edges < 128
    assert dark[6:26, 6:26].sum() == dark.sum() > 40  # the square's outline, nothing elsewhere
    assert not dark[12:20, 12:20].any() and (edges[~dark] == 255).all()
