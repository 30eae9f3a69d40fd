"""Feature extractors: the shipped digit classifier, and the FID Inception loading path on weights made here."""

import pytest
import torch
from safetensors.torch import save_file
from torchmetrics.image.fid import FrechetInceptionDistance

from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.features import default_features, get_extractor
from ganforge.features.inception import ENV_VAR, WEIGHTS_NAME, FIDInception, load_inception
from ganforge.metrics import FrechetDistance


def test_shipped_digit_classifier_recognises_the_digits_dataset():
    data = load_dataset("digits", image_size=32)
    images = data.real_samples(len(data))
    labels = torch.tensor(data.info["labels"])[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))]
    features, logits = get_extractor("digits")(images)
    assert features.shape == (len(data), 128)
    assert (logits.argmax(1) == labels).float().mean() > 0.97


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


def test_inception_loads_from_a_given_path_and_from_the_cache(random_inception_weights, monkeypatch, tmp_path):
    folder, state = random_inception_weights
    for path in (folder / WEIGHTS_NAME, folder / "inception.safetensors"):
        model = load_inception(path)
        assert torch.equal(model.state_dict()["Mixed_7c.branch_pool.conv.weight"],
                           state["Mixed_7c.branch_pool.conv.weight"])
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(GanforgeError, match=f"get {WEIGHTS_NAME} from https://.*--inception-weights PATH"):
        load_inception()
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / WEIGHTS_NAME).symlink_to(folder / WEIGHTS_NAME)
    assert isinstance(load_inception(), FIDInception)


def test_wrong_or_missing_inception_files_are_named(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist; expected the file pt_inception"):
        load_inception(tmp_path / "nope.pth")
    save_file({"fc.weight": torch.zeros(3, 3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(GanforgeError, match="do not fit the FID network"):
        load_inception(tmp_path / "other.safetensors")


def test_inception_features_give_the_same_fid_as_torchmetrics(random_inception_weights):
    folder, _ = random_inception_weights
    model = load_inception(folder / "inception.safetensors")
    generator = torch.Generator().manual_seed(0)
    real, fake = torch.rand(6, 3, 32, 32, generator=generator), torch.rand(6, 3, 32, 32, generator=generator) ** 2
    real_features, real_logits = model(real)
    fake_features, _ = model(fake)
    assert real_features.shape == (6, 2048) and real_logits.shape == (6, 1008)

    class Features(torch.nn.Module):
        num_features = 2048

        def forward(self, images):
            return model(images)[0]

    reference = FrechetInceptionDistance(feature=Features(), normalize=True)
    reference.update(real, real=True)
    reference.update(fake, real=False)
    ours = FrechetDistance()
    ours.update(real_features, real=True)
    ours.update(fake_features, real=False)
    assert ours.compute()["fd"] == pytest.approx(float(reference.compute()), rel=1e-5)
