"""Generator and discriminator shapes for every supported size and channel count."""

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.models import MODELS, build_models, resolve_options, sample_latent


@pytest.mark.parametrize("size", [16, 32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size, channels):
    options = resolve_options("dcgan", "image", {"g_width": 4, "d_width": 4, "latent_dim": 8})
    generator, discriminator = build_models("dcgan", (channels, size, size), options)
    z = torch.randn(2, 8)
    with torch.no_grad():
        images = generator(z)
        logits = discriminator(images)
        probability = discriminator.probability(images)
    assert images.shape == (2, channels, size, size)
    assert isinstance(list(generator.modules())[-1], torch.nn.Tanh)  # images end in [-1, 1] by construction
    assert logits.shape == (2,)
    assert torch.allclose(probability, torch.sigmoid(logits))  # D(x) is the logit's probability


def test_dcgan_structure_follows_the_seed_architecture():
    generator, discriminator = build_models("dcgan", (3, 64, 64), resolve_options("dcgan", "image", {}))
    kinds = [type(m).__name__ for m in generator.modules()]
    assert kinds.count("ConvTranspose2d") == 4 and "Tanh" in kinds and kinds[1] == "Linear"
    d_layers = [type(m).__name__ for m in discriminator.layers]
    assert d_layers[:2] == ["Conv2d", "LeakyReLU"]  # no batch norm on the first block
    assert d_layers.count("BatchNorm2d") == 3
    widths = [m.out_channels for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [64, 128, 256, 512, 1]


@pytest.mark.parametrize("size", [8, 48, 512])
def test_dcgan_rejects_unsupported_sizes(size):
    with pytest.raises(GanforgeError, match=f"image size {size}×{size} is not supported.*16, 32, 64, 128, 256"):
        build_models("dcgan", (3, size, size), resolve_options("dcgan", "image", {}))


@pytest.mark.parametrize("shape", [(2,), (7,), (1, 8, 8)])
def test_mlp_shapes(shape):
    options = resolve_options("mlp", "image" if len(shape) == 3 else "vector", {"batch_norm": True, "depth": 2})
    generator, discriminator = build_models("mlp", shape, options)
    x = generator(torch.randn(5, options["latent_dim"]))
    assert x.shape == (5, *shape)
    assert discriminator(x).shape == (5,)


def test_model_options_are_checked_by_name():
    with pytest.raises(GanforgeError, match="unknown model 'resnet'"):
        resolve_options("resnet", "image", {})
    with pytest.raises(GanforgeError, match="model dcgan does not handle vector data; use --model mlp"):
        resolve_options("dcgan", "vector", {})
    with pytest.raises(GanforgeError, match="option --depth does not apply to model dcgan"):
        resolve_options("dcgan", "image", {"depth": 3})
    assert set(MODELS) >= {"dcgan", "mlp"}


def test_latent_distributions():
    normal = sample_latent("normal", 20000, 4, torch.Generator().manual_seed(0))
    uniform = sample_latent("uniform", 20000, 4, torch.Generator().manual_seed(0))
    assert abs(normal.std().item() - 1) < 0.02
    assert uniform.min() >= -1 and uniform.max() <= 1 and abs(uniform.std().item() - (1 / 3) ** 0.5) < 0.01
