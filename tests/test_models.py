"""Generator and discriminator shapes for every supported size and channel count; families' option declarations."""

import json
from dataclasses import fields

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.models import (
    MODELS,
    ModelOption,
    build_models,
    option_help,
    option_type,
    register,
    resolve_options,
    sample_latent,
    unregister,
)


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


def test_withdrawing_a_family_withdraws_its_options():
    from ganforge.config import TrainConfig, build_config

    made_before = TrainConfig()
    options = (ModelOption("latent_dim", int, 2, "noise size"), ModelOption("blocks", bool, True, "use blocks"))
    register("solo", "a test family", ("vector",), training={}, options=options)(lambda shape, **o: None)
    try:
        assert made_before.blocks is None and made_before == TrainConfig()  # not set, as if made now
        assert build_config({"blocks": "no"}).blocks is False
    finally:
        unregister("solo")
    assert "blocks" not in {spec.name for spec in fields(TrainConfig)} and not hasattr(TrainConfig(), "blocks")
    with pytest.raises(GanforgeError, match="unknown option in options: blocks"):
        build_config({"blocks": True})


@pytest.mark.parametrize(("option", "error", "message"), [
    (ModelOption("g_width", str, "wide", "generator width"), TypeError,
     "declares option 'g_width' as str, but model dcgan declares it as int"),
    (ModelOption("steps", int, 3, "steps"), ValueError, "steps has the name of a general option"),
    (None, ValueError, "model clash must declare the option latent_dim"),
])
def test_a_family_that_contradicts_the_others_is_refused(option, error, message):
    before = dict(MODELS)
    options = (ModelOption("latent_dim", int, 2, "noise size"), option) if option else ()
    with pytest.raises(error, match=message):
        register("clash", "a test family", ("vector",), training={}, options=options)(lambda shape, **o: None)
    assert before == MODELS and option_type("g_width") is int


@pytest.mark.parametrize(("args", "message"), [
    (("width", int, True, "x"), "declared int but has the value True"),
    (("width", bool, 1, "x"), "declared bool but has the value 1"),
    (("act", str, "tanh", "x", ("relu",)), "defaults to 'tanh', not one of its choices"),
    (("two words", int, 1, "x"), "is not a Python identifier"),
    (("width", list, [], "x"), "expected one of int, float, bool, str"),
])
def test_declarations_are_checked(args, message):
    with pytest.raises((TypeError, ValueError), match=message):
        ModelOption(*args)


def test_defaults_and_choices_come_from_the_declarations():
    assert MODELS["mlp"].defaults == {"latent_dim": 32, "g_width": 256, "d_width": 256, "depth": 3,
                                      "batch_norm": False, "activation": None, "minibatch_std": False}
    with pytest.raises(GanforgeError, match="option --activation must be one of relu, leaky_relu; got 'tanh'"):
        resolve_options("mlp", "vector", {"activation": "tanh"})


def test_the_help_comes_from_the_declarations():
    assert option_help("g_width") == ("generator width: dcgan: base channels (default 64); fastgan: base channels "
                                      "(16× at 4×4 pixels) (default 16); mlp: hidden units (default 256); sequence: "
                                      "hidden units (per step for gru and conv) (default 256)")
    assert option_help("latent_dim") == ("size of the noise vector z (default: dcgan 100, fastgan 128, mlp 32, "
                                         "sequence 32)")
    assert option_help("minibatch_std") == ("minibatch standard-deviation feature in the discriminator (default: "
                                            "dcgan off, fastgan off, mlp off)")
    assert option_help("depth") == "hidden layers of each network (default: mlp 3, sequence 3)"
    assert option_help("cell") == ("sequence: layers of both networks: dense (the whole window at once, minibatch std "
                                   "in D), gru, or conv (residual temporal convolutions) (default dense)")
    assert option_help("depth", defaults=False) == "hidden layers of each network"


@pytest.fixture
def blocks_family():
    """A throwaway family, registered as a plugin would be, with one option no other family has (`blocks`); the
    builder records the options it is given. Withdrawn afterwards, so other tests see the usual registry."""
    from ganforge.models.mlp import build_mlp

    calls = []

    @register("blocky", "a test family", ("vector",), training={"lr_g": 1e-3, "lr_d": 1e-3, "batch_size": 32},
              options=(ModelOption("latent_dim", int, 8, "size of the noise vector z"),
                       ModelOption("blocks", int, 1, "hidden layers of each network")))
    def build(sample_shape, latent_dim, blocks, d_channels=None):
        calls.append({"latent_dim": latent_dim, "blocks": blocks})
        return build_mlp(sample_shape, latent_dim, 16, 16, blocks, False, None, False, d_channels)

    yield calls
    unregister("blocky")


def test_a_new_family_is_one_declaration(blocks_family, tmp_path, capsys):
    """With no edit beyond registering the family, its option is a config field, a flag with help, reaches the
    builder, and is refused by name for a family that does not declare it."""
    import ganforge
    from ganforge.cli import main
    from ganforge.config import TrainConfig, build_config

    assert build_config({"blocks": "3"}).blocks == 3 and TrainConfig(blocks=2).to_json()["blocks"] == 2
    with pytest.raises(GanforgeError, match="--blocks must be positive, got 0"):
        build_config({"blocks": 0}).validate()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--blocks BLOCKS blocky: hidden layers of each network (default 1)" in help_text

    out = tmp_path / "blocky"
    assert main(["train", "--precision", "fp32", "--data", "ring", "--model", "blocky", "--blocks", "3", "--steps",
                 "2", "--out", str(out),
                 "--threads", "1", "--quiet"]) == 0
    assert blocks_family[-1] == {"latent_dim": 8, "blocks": 3}
    assert json.loads((out / "config.json").read_text())["config"]["blocks"] == 3
    ganforge.load(out).sample(4, seed=0)  # the run's generator is rebuilt by the same family
    ganforge.train(data="ring", precision="fp32", model="blocky", steps=2, out=tmp_path / "default", progress=False,
                   threads=1)
    assert blocks_family[-1]["blocks"] == 1  # unset: the family's default

    with pytest.raises(GanforgeError, match="option --blocks does not apply to model dcgan; it takes --latent-dim"):
        resolve_options("dcgan", "image", {"blocks": 3})
    with pytest.raises(GanforgeError, match="option --blocks does not apply to model mlp"):
        ganforge.train(data="ring", precision="fp32", model="mlp", blocks=3, steps=2, out=tmp_path / "mlp",
                       progress=False, threads=1)
