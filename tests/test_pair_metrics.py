"""PSNR and SSIM on Y as the restoration papers compute them, checked against their closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.metrics.pairs import l1, luma, pair_scores, psnr_y, ssim_y


def test_luma_is_bt601_studio_range():
    white, black = torch.full((1, 3, 2, 2), 255.0), torch.zeros(1, 3, 2, 2)
    assert torch.allclose(luma(white), torch.tensor(235.0, dtype=torch.float64))
    assert torch.allclose(luma(black), torch.tensor(16.0, dtype=torch.float64))
    gray = torch.full((1, 1, 2, 2), 100.0)
    assert torch.allclose(luma(gray), luma(gray.expand(-1, 3, -1, -1)))


def test_psnr_and_ssim_of_flat_images_follow_their_closed_forms():
    target, output = torch.full((2, 1, 16, 16), 100.0), torch.full((2, 1, 16, 16), 110.0)
    difference = 10 * 219 / 255  # an 8-bit step of 10 is 219/255 of it in Y
    assert math.isclose(psnr_y(output, target), 10 * math.log10(255**2 / difference**2), rel_tol=1e-9)
    y_out, y_target, c1 = 16 + 110 * 219 / 255, 16 + 100 * 219 / 255, (0.01 * 255) ** 2
    luminance = (2 * y_out * y_target + c1) / (y_out**2 + y_target**2 + c1)  # flat: contrast and structure are 1
    assert math.isclose(ssim_y(output, target), luminance, rel_tol=1e-5)
    assert psnr_y(target, target) == 100.0 and math.isclose(ssim_y(target, target), 1.0, rel_tol=1e-6)
    assert math.isclose(l1(output, target), 10 / 127.5)


def test_the_border_crop_leaves_out_the_borders_only():
    torch.manual_seed(0)
    target = torch.randint(0, 256, (1, 3, 24, 24)).float()
    output = target.clone()
    output[..., :2, :] = 0  # damage within 2 pixels of the top
    assert psnr_y(output, target, crop=2) == 100.0 and psnr_y(output, target) < 40
    scores = pair_scores(output, target, crop=2)
    assert scores["psnr_y"] == 100.0 and math.isclose(scores["ssim_y"], 1.0, rel_tol=1e-6)


def test_fd_and_kid_of_outputs_are_near_0_for_the_targets_and_large_for_other_images():
    from ganforge.features.inception import load_inception
    from ganforge.metrics.pairs import crops, distribution_scores

    network = load_inception()  # the fid extra's weights (`make install` installs it)
    generator = torch.Generator().manual_seed(0)
    ramps = torch.linspace(0, 255, 32).expand(8, 3, 32, 32).clone()
    targets = (ramps * torch.rand(8, 3, 1, 1, generator=generator)).round()  # smooth gradients of random colours
    noise = torch.randint(0, 256, (8, 3, 32, 32), generator=generator).float()
    same = distribution_scores(network, targets, targets)
    other = distribution_scores(network, noise, targets)
    assert same["fd_items"] == 8 and abs(same["fd"]) < 1e-3 and abs(same["kid"]) < 0.05
    assert other["fd"] > 100 and other["kid"] > 10 * max(abs(same["kid"]), 1e-3)
    # whole images of different sizes are compared as 64-pixel crops, or smaller ones where an image is smaller
    assert len(crops(torch.zeros(3, 130, 200))) == 2 * 3 and len(crops(torch.zeros(3, 40, 40))) == 1
    mixed = [torch.full((3, 64, 64), 50.0), torch.full((3, 32, 48), 90.0)]
    assert distribution_scores(network, mixed, [targets[0], targets[1]])["fd_items"] == 4 + 1  # 32-px crops


def test_the_pair_scores_are_in_the_one_registry():
    from ganforge.data import load_dataset
    from ganforge.metrics import METRICS, Context, better_direction
    from ganforge.metrics.evaluate import default_metrics
    from ganforge.metrics.pairs import l1, psnr_y, ssim_y

    rng = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 256, (3, 3, 16, 16), generator=rng).float()
    outputs = (targets + torch.randint(-20, 21, targets.shape, generator=rng)).clamp(0, 255)
    expected = {"l1": l1(outputs, targets), "psnr_y": psnr_y(outputs, targets), "ssim_y": ssim_y(outputs, targets),
                "cycle": l1(outputs, targets)}
    for name in ("l1", "psnr", "ssim", "cycle"):
        metric = METRICS[name]()
        metric.update(targets, real=True)
        metric.update(outputs, real=False)
        assert metric.compute() == pytest.approx({k: v for k, v in expected.items() if k in METRICS[name].values})
    assert better_direction("psnr_y") == "max" and better_direction("l1") == "min" and better_direction("niqe") == "min"
    ring = Context(load_dataset("ring"), "raw")
    assert "measures image-to-image runs" in METRICS["psnr"].unavailable(ring)
    assert not {"l1", "psnr", "ssim", "niqe", "cycle"} & set(default_metrics(ring))
