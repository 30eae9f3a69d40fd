"""NIQE against BasicSR's implementation (which matches the authors' MATLAB release on Set14's baboon, 5.7296), on
the photos scikit-learn ships; and what it should say of blur and of images too small for it."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from sklearn.datasets import load_sample_image

from ganforge.errors import GanforgeError
from ganforge.metrics.niqe import _resize_matrix, fits, matlab_resize, niqe

# BasicSR 1.4.2's calculate_niqe(img_bgr, crop_border, input_order="HWC"|"HW") on these images, float64 input
BASICSR = {("china.jpg", 0): 4.271902, ("china.jpg", 4): 4.228598, ("flower.jpg", 0): 4.893328,
           ("flower.jpg", 4): 4.843043}
BASICSR_GRAY = {"china.jpg": 4.213141, "flower.jpg": 4.819717}


def photo(name: str) -> torch.Tensor:
    return torch.from_numpy(np.array(load_sample_image(name))).permute(2, 0, 1)


@pytest.mark.parametrize(("name", "crop"), list(BASICSR))
def test_niqe_agrees_with_basicsr(name, crop):
    assert niqe(photo(name), crop=crop) == pytest.approx(BASICSR[name, crop], rel=5e-4)


@pytest.mark.parametrize("name", list(BASICSR_GRAY))
def test_a_gray_image_is_read_as_its_own_luma(name):
    gray = np.array(Image.fromarray(load_sample_image(name)).convert("L"))
    assert niqe(torch.from_numpy(gray)[None]) == pytest.approx(BASICSR_GRAY[name], rel=5e-4)


def test_blur_reads_as_less_natural():
    sharp = load_sample_image("flower.jpg")
    blurred = np.array(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(2)))
    assert niqe(torch.from_numpy(blurred).permute(2, 0, 1)) > niqe(photo("flower.jpg")) + 2


def test_matlab_resize_halves_as_matlab():
    # a constant stays constant (weights sum to 1, edges mirrored), and a ramp stays a ramp away from the edges
    matrix = _resize_matrix(20, 0.5)
    assert matrix.shape == (10, 20)
    assert np.allclose(matrix.sum(1), 1)
    ramp = np.tile(np.arange(40, dtype=np.float64), (8, 1))
    halved = matlab_resize(ramp, 0.5)
    assert halved.shape == (4, 20)
    assert np.allclose(np.diff(halved[0, 3:-3]), 2.0)


def test_too_small_an_image_is_one_line():
    assert not fits(150, 150) and fits(192, 96) and not fits(200, 100, crop=4)
    with pytest.raises(GanforgeError, match=r"NIQE of tiny.png: it needs two 96-pixel blocks, and it is 100×100"):
        niqe(torch.zeros(3, 100, 100, dtype=torch.uint8), name="tiny.png")
