"""pix2pix's networks: the U-Net keeps the size and carries detail across its skips, and one PatchGAN logit sees a
70×70 patch with the paper's three layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models.translation import PatchDiscriminator, UNetGenerator, tiled


@pytest.mark.parametrize("size", [8, 32, 64])
def test_the_unet_maps_an_image_to_one_of_the_same_size_in_minus_1_to_1(size):
    torch.manual_seed(0)
    generator = UNetGenerator(1, 3, size, width=8)
    out = generator(torch.randn(2, 1, size, size))
    assert out.shape == (2, 3, size, size) and out.abs().max() <= 1
    assert len(generator.down) == len(generator.up) == size.bit_length() - 1  # down to 1×1 and back
    generator.train()
    single = generator(torch.randn(1, 1, size, size))  # a batch of one trains: no batch norm at 1×1
    assert single.shape == (1, 3, size, size)


def test_the_unet_skips_carry_each_pixel_to_its_own_place():
    torch.manual_seed(0)
    generator = UNetGenerator(1, 1, 32, width=8, dropout=0.0).eval()
    x = torch.randn(1, 1, 32, 32, requires_grad=True)
    generator(x)[0, 0, 20, 5].backward()
    reach = x.grad[0, 0].abs()
    near = torch.zeros_like(reach, dtype=torch.bool)
    near[18:23, 3:8] = True
    assert reach[near].mean() > 5 * reach[~near].mean()  # an output pixel depends most on the input around it
    assert (reach > 0).float().mean() > 0.9  # and, through the bottleneck, on nearly all of the image


def test_dropout_is_in_the_three_innermost_decoder_blocks_only():
    generator = UNetGenerator(3, 3, 64, width=8)
    dropped = [any(isinstance(m, nn.Dropout) for m in block) for block in generator.up]
    assert dropped == [True, True, True, False, False, False]


def test_one_patchgan_logit_sees_a_70_pixel_patch():
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(6, width=8).eval()
    assert discriminator.receptive_field == 70
    pair = torch.randn(1, 6, 128, 128, requires_grad=True)
    logits = discriminator(pair)
    assert logits.shape == (1, 1, 14, 14)
    logits[0, 0, 7, 7].backward()
    rows, cols = torch.nonzero(pair.grad[0].abs().sum(0), as_tuple=True)
    assert int(rows.max() - rows.min()) + 1 <= 70 and int(cols.max() - cols.min()) + 1 <= 70
    assert int(rows.max() - rows.min()) + 1 >= 60  # the whole patch, less the zero padding's blind rim
    assert PatchDiscriminator(6, width=8, layers=1).receptive_field == 16


def test_a_size_that_is_not_a_power_of_two_is_refused_in_one_line():
    with pytest.raises(GanforgeError, match="option --image-size 48: the U-Net needs a power of two from 8"):
        UNetGenerator(3, 3, 48)


@pytest.mark.parametrize("scale", [1, 2])
def test_tiled_translation_equals_one_pass_over_the_whole_image(scale):
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
              nn.Conv2d(8, 2 * scale * scale, 3, padding=1)]  # sees 3 pixels around each one
    local = nn.Sequential(*layers, nn.PixelShuffle(scale)).eval()
    image = torch.randn(3, 70, 53)
    with torch.no_grad():
        whole = local(image[None])[0]
    tiles = []
    out = tiled(lambda x: tiles.append(len(x)) or local(x), image, tile=32, overlap=16, scale=scale, batch=4)
    assert out.shape == whole.shape == (2, 70 * scale, 53 * scale) and sum(tiles) == 4 * 3 and max(tiles) == 4
    torch.testing.assert_close(out, whole, rtol=1e-5, atol=1e-5)
    seams = tiled(local, image, tile=32, overlap=0, scale=scale)  # without overlap the seams show
    assert not torch.allclose(seams, whole, atol=1e-3)


def test_an_image_smaller_than_a_tile_is_padded_and_cut_back():
    image = torch.rand(1, 20, 9)
    out = tiled(lambda x: x * 2, image, tile=32, overlap=8)
    torch.testing.assert_close(out, image * 2)
    with pytest.raises(GanforgeError, match="option --overlap 32: must be at least 0 and less than the tile"):
        tiled(lambda x: x, image, tile=32, overlap=32)
