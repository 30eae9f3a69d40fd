"""Every data kind: built-in sets, image folders of every format, array files, the batch order and exports."""

import logging
import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import BUILTIN, BatchOrder, Codec, load_dataset
from ganforge.data.export import save_samples
from ganforge.data.toy import grid_modes, ring_modes
from ganforge.errors import GanforgeError


def test_ring_has_the_benchmark_parameters():
    data = load_dataset("ring")
    points = data.codec.decode(data.samples).double()
    assert len(data) == 100_000 and data.sample_shape == (2,)
    modes = ring_modes()
    assert torch.allclose(modes[2], torch.tensor([0.0, 1.0], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(modes.norm(dim=1), torch.ones(8, dtype=torch.float64))
    nearest = torch.cdist(points, modes).argmin(1)
    offsets = points - modes[nearest]
    assert offsets.std().item() == pytest.approx(0.01, rel=0.02)
    counts = torch.bincount(nearest, minlength=8).float()
    assert (counts / counts.mean() - 1).abs().max() < 0.05  # modes are equally likely


def test_grid_has_the_benchmark_parameters():
    data = load_dataset("grid")
    points = data.codec.decode(data.samples).double()
    modes = grid_modes()
    assert sorted(set(modes[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0] and len(modes) == 25
    offsets = points - modes[torch.cdist(points, modes).argmin(1)]
    assert offsets.std().item() == pytest.approx(0.05, rel=0.02)


def test_digits_and_shapes_builtins():
    digits = load_dataset("digits", image_size=16)
    assert digits.sample_shape == (1, 16, 16) and len(digits) == 1797 and digits.samples.dtype == torch.uint8
    shapes = load_dataset("shapes", image_size=16)
    again = load_dataset("shapes", image_size=16)
    assert shapes.sample_shape == (3, 16, 16) and len(shapes) == 10_000
    assert torch.equal(shapes.samples, again.samples)  # deterministic
    assert shapes.samples.float().std() > 20  # not blank
    assert set(BUILTIN) == {"ring", "grid", "digits", "stacked-digits", "shapes", "sines"}


def test_image_folder_reads_every_format_and_counts_bad_files(image_folder, caplog):
    with caplog.at_level(logging.WARNING, logger="ganforge"):
        data = load_dataset(str(image_folder), image_size=16, workers=0)
    assert len(data) == 11  # 11 images; the truncated file is skipped, the text file ignored
    assert data.sample_shape == (3, 16, 16)
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "skipped 1 unreadable or truncated file" in warning and "truncated.png" in warning


def test_alpha_is_composited_on_white_and_16_bit_is_scaled(tmp_path):
    folder = tmp_path / "few"
    folder.mkdir()
    clear = np.zeros((16, 16, 4), np.uint8)  # fully transparent black
    Image.fromarray(clear, "RGBA").save(folder / "a_clear.png")
    Image.fromarray(np.full((16, 16), 65535, np.uint16)).save(folder / "b_white16.png")
    data = load_dataset(str(folder), image_size=16, workers=0)
    assert data.sample_shape == (3, 16, 16)
    assert (data.samples[0] == 255).all()  # transparent → white, not black
    assert (data.samples[1] == 255).all()  # 16-bit white → 255, not clipped garbage


def test_grayscale_folder_defaults_to_one_channel_and_resizes_with_centre_crop(tmp_path):
    folder = tmp_path / "gray"
    folder.mkdir()
    image = np.zeros((40, 80), np.uint8)
    image[:, 20:60] = 255  # a white centre square in a wide image
    Image.fromarray(image).save(folder / "wide.png")
    data = load_dataset(str(folder), image_size=16, workers=0)
    assert data.sample_shape == (1, 16, 16)
    assert data.samples.float().mean() > 250  # the crop kept only the white centre


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GanforgeError, match="has no image files"):
        load_dataset(str(empty))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(GanforgeError, match="has no readable image"):
        load_dataset(str(broken), workers=0)
    with pytest.raises(GanforgeError, match="neither an existing path nor a built-in dataset"):
        load_dataset(str(tmp_path / "missing"))
    with pytest.raises(GanforgeError, match="not a supported kind"):
        (tmp_path / "table.txt").write_text("1,2")
        load_dataset(str(tmp_path / "table.txt"))


def test_streaming_folder_gives_the_same_batches_as_the_cached_one(png_folder):
    cached = load_dataset(str(png_folder), image_size=16, workers=0)
    streamed = load_dataset(str(png_folder), image_size=16, workers=0, cache_gb=0)
    assert type(streamed).__name__ == "StreamingImageFolder"
    a = next(cached.batches(8, seed=3, start_step=5, device=torch.device("cpu")))
    b = next(streamed.batches(8, seed=3, start_step=5, device=torch.device("cpu")))
    assert torch.equal(a, b)


def test_vector_arrays(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(5.0, 3.0, size=(500, 3)).astype(np.float32)
    values[:, 2] = 7.0  # a constant column must not divide by zero
    np.save(tmp_path / "v.npy", values)
    data = load_dataset(str(tmp_path / "v.npy"))
    assert data.kind == "vector" and data.sample_shape == (3,)
    assert torch.allclose(data.samples[:, :2].mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(data.codec.decode(data.samples), torch.from_numpy(values), atol=1e-4)
    np.savez(tmp_path / "v.npz", x=values, labels=np.arange(500))
    assert load_dataset(str(tmp_path / "v.npz")).sample_shape == (3,)


@pytest.mark.parametrize("layout", ["nhw", "nhwc", "nchw", "nhwc4"])
def test_image_arrays_in_every_layout(tmp_path, layout):
    rng = np.random.default_rng(1)
    shapes = {"nhw": (6, 16, 16), "nhwc": (6, 16, 16, 3), "nchw": (6, 3, 16, 16), "nhwc4": (6, 16, 16, 4)}
    array = rng.integers(0, 256, size=shapes[layout]).astype(np.uint8)
    np.save(tmp_path / "im.npy", array)
    data = load_dataset(str(tmp_path / "im.npy"))
    assert data.sample_shape == ((1, 16, 16) if layout == "nhw" else (3, 16, 16))
    if layout == "nhwc":
        assert torch.equal(data.samples, torch.from_numpy(array).permute(0, 3, 1, 2))


def test_float_image_ranges_and_resize(tmp_path):
    signed = -np.ones((4, 3, 20, 20), np.float32)
    signed[:, :, :, 10:] = 1.0  # left half black, right half white, in [-1, 1]
    np.save(tmp_path / "signed.npy", signed)
    data = load_dataset(str(tmp_path / "signed.npy"), image_size=16, channels=1)
    assert data.sample_shape == (1, 16, 16)
    assert (data.samples[:, :, :, :6] == 0).all() and (data.samples[:, :, :, -6:] == 255).all()


@pytest.mark.parametrize(("content", "message"), [
    (np.array(["a", "b"]), "dtype <U1; expected numbers"),
    (np.array([[1.0, np.nan]]), "NaN or infinite"),
    (np.arange(5), r"shape \(5,\); expected \(N, D\) vectors"),
    (np.array([{"a": 1}], dtype=object), "Python objects"),
])
def test_bad_arrays_are_refused_by_name(tmp_path, content, message):
    path = tmp_path / "bad.npy"
    np.save(path, content, allow_pickle=True)
    with pytest.raises(GanforgeError, match=f"array file .*bad.npy .*{message}"):
        load_dataset(str(path))


def test_batch_order_is_a_function_of_the_step():
    order = BatchOrder(10, 4, seed=1)
    stream = torch.cat([order.indices(s) for s in range(5)])  # 20 positions = 2 epochs
    assert sorted(stream[:10].tolist()) == list(range(10)) and sorted(stream[10:].tolist()) == list(range(10))
    assert not torch.equal(stream[:10], stream[10:])  # a new permutation each epoch
    assert torch.equal(BatchOrder(10, 4, seed=1).indices(3), order.indices(3))  # resuming needs no state
    assert not torch.equal(BatchOrder(10, 4, seed=2).indices(0), order.indices(0))


def test_codec_json_round_trip():
    codec = Codec.for_vectors(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    again = Codec.from_json(codec.to_json())
    x = torch.tensor([[0.5, -1.0]])
    assert torch.equal(again.decode(x), codec.decode(x))
    assert torch.allclose(codec.encode(codec.decode(x)), x)


def test_exports(tmp_path):
    images = torch.rand(5, 3, 16, 16)
    grid = save_samples(images, "image", tmp_path / "grid.png")
    assert Image.open(grid).size == (3 * 18 + 2, 2 * 18 + 2)
    folder = save_samples(images, "image", tmp_path / "pngs")
    assert len(list(folder.glob("*.png"))) == 5
    array = np.load(save_samples(images, "image", tmp_path / "x.npy"))
    assert array.shape == (5, 16, 16, 3) and array.dtype == np.uint8
    points = torch.randn(50, 2)
    table = np.loadtxt(save_samples(points, "vector", tmp_path / "p.csv"), delimiter=",", skiprows=1)
    assert np.allclose(table, points.numpy(), atol=1e-5)
    assert Image.open(save_samples(points, "vector", tmp_path / "p.png")).size == (512, 512)
    with pytest.raises(GanforgeError, match="vectors can be written to .npy, .csv or a .png"):
        save_samples(points, "vector", tmp_path / "folder")
    with pytest.raises(GanforgeError, match="not CSV"):
        save_samples(images, "image", tmp_path / "x.csv")
    assert math.isfinite(float(array.mean()))
