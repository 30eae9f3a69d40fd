"""CycleGAN in the shared loop: without pairs it learns to colour gray stripes the way domain B is coloured, its
image pool behaves as the paper's, and a resumed run (pool included) is bit-identical."""

from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import load_file

from ganforge.data.pairs import UnpairedImages
from ganforge.training import checkpoint as ckpt
from ganforge.training.cycle import CycleOptions, CycleTask, ImagePool
from ganforge.training.loop import LoopOutput, LoopSettings, TrainingLoop

TINY = CycleOptions(width=8, d_width=8, blocks=2, batch_size=4, pool=8, lr=1e-3, seed=0)  # a fast lr for a short run


def _stripes(n: int, seed: int, size: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    return (np.stack([np.sin(rng.uniform(2, 8) * x + rng.uniform(2, 8) * y + rng.uniform(0, 6))
                      for _ in range(n)]) + 1) / 2


def _domains(n: int = 48) -> UnpairedImages:
    """A: gray stripes; B: other stripes, red where bright and blue where dark (their red and blue channels are
    anti-correlated, where a gray image's are the same)."""
    gray, other = _stripes(n, 0), _stripes(n, 1)
    coloured = np.stack([other, 0.5 * np.ones_like(other), 1 - other], 1)
    as_uint8 = lambda v: torch.from_numpy((v * 255).round().astype(np.uint8))  # noqa: E731
    return UnpairedImages(as_uint8(gray[:, None]), as_uint8(coloured))


def _loop(task, steps: int, folder=None) -> TrainingLoop:
    settings = LoopSettings(steps, log_every=10, sample_every=10_000, checkpoint_every=3, keep_checkpoints=5,
                            diagnose=False, description="translating")
    return TrainingLoop(task, settings, LoopOutput(checkpoints=folder), progress=False, threads=1)


def _red_blue_correlation(images: torch.Tensor) -> float:
    red, blue = images[:, 0].flatten(), images[:, 2].flatten()
    return float(torch.corrcoef(torch.stack([red, blue]))[0, 1])


def _cycle_error(task: CycleTask) -> float:
    with torch.no_grad():
        return float((task.g_ba.eval()(task.translate(task.a)) - task.a).abs().mean())


def test_cyclegan_learns_domain_bs_colouring_without_pairs():
    torch.set_num_threads(1)
    task = CycleTask(_domains(), TINY)
    untrained = _cycle_error(task)
    _loop(task, 200).fit()
    # measured on an AMD EPYC at fp32, seeds 0-2: red-blue correlation -0.99 (a gray image's is +1), cycle error
    # 0.14 to 0.18 from about 0.5 untrained
    assert _red_blue_correlation(task.translate(task.a)) < -0.8
    assert _cycle_error(task) < 0.6 * untrained, (_cycle_error(task), untrained)  # F brings the colouring back


def test_the_pool_keeps_the_first_fakes_then_swaps_about_half():
    pool, rng = ImagePool(4, (1, 2, 2)), torch.Generator().manual_seed(0)
    first = torch.arange(4.0)[:, None, None, None].expand(-1, 1, 2, 2)
    assert torch.equal(pool.query(first, rng), first) and pool.count == 4
    fresh = [torch.full((1, 1, 2, 2), 10.0 + i) for i in range(200)]
    swapped = sum(int(not torch.equal(pool.query(fake, rng), fake)) for fake in fresh)
    assert 70 < swapped < 130  # half the time a stored fake comes back instead


def test_a_resumed_cyclegan_run_is_bit_identical_pool_and_all(tmp_path):
    torch.set_num_threads(1)
    images, options = _domains(10), CycleOptions(width=4, d_width=4, blocks=1, batch_size=2, pool=3, seed=1)
    _loop(CycleTask(images, options), 6, tmp_path / "straight").fit()
    _loop(CycleTask(images, options), 3, tmp_path / "split").fit()
    resumed = _loop(CycleTask(images, options), 6, tmp_path / "split")
    resumed.restore(ckpt.find_checkpoint_in(tmp_path / "split"))
    resumed.fit()
    straight, split = (load_file(str(ckpt.find_checkpoint_in(tmp_path / name) / ckpt.MODELS_FILE))
                       for name in ("straight", "split"))
    assert any(k.startswith("generator_ba.") for k in straight) and straight.keys() == split.keys()
    for name in straight:
        assert torch.equal(straight[name], split[name]), name
