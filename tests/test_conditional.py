"""Class-conditional GANs: labels in from folders, arrays and built-ins; every method with every family; the class
asked for comes out; sampling, truncation and interpolation; the class metrics; the class health rules."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.api import path, truncate
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.diagnostics import HealthMonitor, Observation
from ganforge.diagnostics.classes import ClassReference
from ganforge.errors import GanforgeError
from ganforge.metrics import METRICS, Context
from ganforge.models import build_models, resolve_options
from ganforge.models.conditional import COND_METHODS, ClassEmbedding, fixed_labels
from ganforge.training.run_folder import RunFolder

TINY_DCGAN = {"image_size": 16, "g_width": 8, "d_width": 8, "latent_dim": 16, "batch_size": 16, "precision": "fp32"}
CENTRES = np.array([[-2.0, -2.0], [-2.0, 2.0], [2.0, -2.0], [2.0, 2.0]])


def _write_images(folder, count, colour):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (20, 20), tuple(min(255, c + i) for c in colour)).save(folder / f"{i}.png")


@pytest.fixture
def pets(tmp_path):
    _write_images(tmp_path / "pets" / "cat", 12, (200, 40, 40))
    _write_images(tmp_path / "pets" / "dog", 12, (40, 40, 200))
    return tmp_path / "pets"


@pytest.fixture(scope="module")
def quadrants(tmp_path_factory):
    """Four labelled Gaussian blobs (one per quadrant) as an .npz with text labels."""
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 4, 4000)
    points = CENTRES[classes] + 0.15 * rng.standard_normal((4000, 2))
    names = np.array(["south-west", "north-west", "south-east", "north-east"])
    file = tmp_path_factory.mktemp("quadrants") / "quadrants.npz"
    np.savez(file, x=points.astype(np.float32), y=names[classes])
    return file


# ----- labels in -------------------------------------------------------------------------------------------------
def test_a_folder_of_class_folders_is_labelled_by_folder(pets):
    data = load_dataset(str(pets), image_size=16)
    assert data.class_names == ["cat", "dog"]
    assert data.labels.tolist() == [0] * 12 + [1] * 12
    # the label of each image is its folder's: cat images are red, dog images blue
    red = data.samples[:, 0].float().mean((1, 2)) > data.samples[:, 2].float().mean((1, 2))
    assert red.tolist() == [True] * 12 + [False] * 12
    assert load_dataset(str(pets), image_size=16, labels=False).labels is None


def test_folder_label_mistakes_are_named(pets, caplog):
    _write_images(pets / "bird", 3, (40, 200, 40))
    load_dataset(str(pets), image_size=16)
    assert "bird (3)" in caplog.text  # a class with very few images gets a warning
    (pets / "fish").mkdir()
    with pytest.raises(GanforgeError, match="class folder .*fish has no images"):
        load_dataset(str(pets), image_size=16)
    (pets / "fish").rmdir()
    Image.new("RGB", (20, 20)).save(pets / "loose.png")
    with pytest.raises(GanforgeError, match="1 image.* outside them .*--labels none"):
        load_dataset(str(pets), image_size=16)
    assert load_dataset(str(pets), image_size=16, labels=False).labels is None


def test_an_unreadable_file_drops_its_label_too(pets):
    (pets / "cat" / "0.png").write_bytes(b"not an image")
    data = load_dataset(str(pets), image_size=16)
    assert data.labels.tolist() == [0] * 11 + [1] * 12


def test_a_streamed_folder_keeps_each_image_with_its_label(pets):
    data = load_dataset(str(pets), image_size=16, cache_gb=1e-9, workers=0)  # too big to cache: streamed
    for name in ("3.png", "7.png"):  # files that go bad after listing
        (pets / "cat" / name).write_bytes(b"truncated")
    images = data.real_samples(24, seed=0)
    labels = data.labels[data.real_index(24, seed=0)]
    red = images[:, 0].mean((1, 2)) > images[:, 2].mean((1, 2))
    assert red.tolist() == (labels == 0).tolist()  # cats are red, dogs blue, whatever stood in for the bad files
    batch, batch_labels = next(data.batches(24, seed=1, start_step=0, device=torch.device("cpu"), with_labels=True))
    assert ((batch[:, 0].mean((1, 2)) > batch[:, 2].mean((1, 2))) == (batch_labels == 0)).all()


def test_array_labels_integer_and_text(tmp_path):
    x = np.zeros((6, 3), np.float32)
    np.savez(tmp_path / "ints.npz", x=x, y=np.array([0, 1, 2, 2, 1, 0]))
    data = load_dataset(str(tmp_path / "ints.npz"))
    assert data.class_names == ["0", "1", "2"] and data.labels.tolist() == [0, 1, 2, 2, 1, 0]
    np.savez(tmp_path / "text.npz", x=x, y=np.array(["b", "a", "b", "a", "c", "c"]))
    assert load_dataset(str(tmp_path / "text.npz")).labels.tolist() == [1, 0, 1, 0, 2, 2]
    np.savez(tmp_path / "gap.npz", x=x, y=np.array([0, 0, 2, 2, 0, 2]))
    with pytest.raises(GanforgeError, match="class '1' has no readable samples"):
        load_dataset(str(tmp_path / "gap.npz"))
    np.savez(tmp_path / "huge.npz", x=x, y=np.array([0, 1, 2, 10**9, 0, 1]))
    with pytest.raises(GanforgeError, match="go up to 1000000000 for 6 samples"):
        load_dataset(str(tmp_path / "huge.npz"))
    np.savez(tmp_path / "short.npz", x=x, y=np.array([0, 1]))
    with pytest.raises(GanforgeError, match=r"labels 'y' have shape \(2,\); expected \(6,\)"):
        load_dataset(str(tmp_path / "short.npz"))


def test_built_in_classes():
    assert load_dataset("digits").class_names == [str(d) for d in range(10)]
    shapes = load_dataset("shapes", image_size=16)
    assert len(shapes.class_names) == 18 and shapes.class_names[0] == "red circle"
    stacked = load_dataset("stacked-digits", image_size=16)
    assert stacked.num_classes == 1000 and stacked.class_names[385] == "385"


def test_conditional_needs_labels_and_built_ins_stay_unconditional_unless_asked(tmp_path):
    with pytest.raises(GanforgeError, match="--conditional needs labelled data"):
        ganforge.train("ring", conditional=True, steps=2, out=tmp_path / "r", progress=False)
    run = ganforge.train("digits", **TINY_DCGAN, steps=2, out=tmp_path / "d", progress=False)
    assert json.loads((run.run_dir / "config.json").read_text())["model"]["conditional"] is None


# ----- models ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", COND_METHODS)
@pytest.mark.parametrize("family,shape", [("dcgan", (3, 16, 16)), ("mlp", (2,)), ("mlp", (1, 16, 16))])
@pytest.mark.parametrize("pack", [1, 2])
def test_every_method_works_with_every_family_and_packing(method, family, shape, pack):
    options = resolve_options(family, "image" if len(shape) == 3 else "vector",
                              {"g_width": 16, "d_width": 16} if family == "dcgan" else {})
    generator, discriminator = build_models(family, shape, options, pack=pack, spectral_norm=True, classes=5,
                                            cond=method)
    z, labels = torch.randn(8, options["latent_dim"]), torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    samples = generator(z, labels)
    assert samples.shape == (8, *shape)
    logits, class_logits = discriminator(samples, labels)
    assert logits.shape == (8 // pack,)
    assert (class_logits is not None) == (method == "acgan")
    generator.eval()
    # move the class parameters from their neutral start (gain 1, bias 0), where every class looks the same
    for module in generator.modules():
        if isinstance(module, ClassEmbedding):
            module.weight.data.normal_()
    # class weights (used by class interpolation) that are one-hot give exactly the class's samples
    one_hot = torch.nn.functional.one_hot(labels, 5).float()
    assert torch.allclose(generator(z, one_hot), generator(z, labels), atol=1e-5)
    # the class changes the sample, and D's verdict depends on the class it is told
    assert not torch.allclose(generator(z, labels), generator(z, (labels + 1) % 5))
    if method == "acgan":  # D's verdict is unconditional; its classifier names the class of each sample
        assert class_logits.shape == (8, 5)
    else:
        assert not torch.allclose(discriminator(samples, labels)[0], discriminator(samples, (labels + 1) % 5)[0])


@pytest.mark.parametrize("method", COND_METHODS)
def test_each_method_makes_the_class_asked_for(quadrants, tmp_path, method):
    # Four blobs, one per class. A generator that ignored the class would put a quarter of each class's samples
    # near its centre; measured here: 99–100 % for every method and seed tried (0–2).
    run = ganforge.train(str(quadrants), precision="fp32", model="mlp", g_width=64, d_width=64, depth=2, steps=1500,
                         seed=0,
                         threads=1, cond=method, out=tmp_path / method, progress=False)
    generator = ganforge.load(run.run_dir)
    assert generator.class_names == ["north-east", "north-west", "south-east", "south-west"]
    findings = {event["name"] for event in RunFolder(run.run_dir).read_diagnoses()}
    assert not findings & {"class_collapse", "class_leakage"}  # a healthy conditional run raises no class finding
    for name in generator.class_names:
        points = generator.sample(400, seed=1, label=name).numpy()
        centre = {"north-east": (2, 2), "north-west": (-2, 2), "south-east": (2, -2), "south-west": (-2, -2)}[name]
        near = np.linalg.norm(points - np.array(centre), axis=1) < 1.0
        assert near.mean() > 0.8, (name, near.mean())


# ----- sampling --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digit_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cond") / "digits"
    ganforge.train("digits", conditional=True, **TINY_DCGAN, steps=4, sample_every=2, threads=1, out=out,
                   progress=False)
    return out


def test_grids_show_one_class_per_row(digit_run):
    config = json.loads((digit_run / "config.json").read_text())
    assert config["config"]["n_fixed_samples"] == 80 and config["data"]["classes"][3] == "3"
    grid = Image.open(digit_run / "samples" / "step_000004.png")
    assert grid.size == (8 * 18 + 2, 10 * 18 + 2)  # 8 columns, 10 rows of 16-pixel images with 2-pixel padding
    assert fixed_labels(20, 10).tolist() == [0] * 8 + [1] * 8 + [2] * 4
    assert fixed_labels(16, 1000).unique().tolist() == [0, 67]  # many classes: rows spread over them


def test_sample_by_class_name_or_index_and_refuse_unknown_ones(digit_run, tmp_path, capsys):
    generator = ganforge.load(digit_run)
    assert torch.equal(generator.sample(6, seed=0, label="3"), generator.sample(6, seed=0, label=3))
    assert not torch.equal(generator.sample(6, seed=0, label="3"), generator.sample(6, seed=0, label="4"))
    assert main(["sample", str(digit_run), "--class", "seven", "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown class 'seven'; this run's 10 classes are: 0, 1, 2" in capsys.readouterr().err
    assert main(["sample", str(digit_run), "--class", "all", "--n", "2", "--out", str(tmp_path / "each")]) == 0
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == [str(d) for d in range(10)]
    assert len(list((tmp_path / "each" / "7").glob("*.png"))) == 2
    assert main(["sample", str(digit_run), "--class", "all", "--out", str(tmp_path / "all.png")]) == 0
    assert Image.open(tmp_path / "all.png").size == (8 * 18 + 2, 10 * 18 + 2)


def test_interpolation_between_classes_starts_and_ends_at_them(digit_run, tmp_path):
    generator = ganforge.load(digit_run)
    walk = generator.interpolate(5, rows=2, seed=3, start="3", end="8")
    assert walk.shape == (10, 1, 16, 16)
    z = generator.latent_noise(2, torch.Generator().manual_seed(3))
    assert torch.allclose(walk[0], generator.generate(z[:1], torch.tensor([3]))[0], atol=1e-5)
    assert torch.allclose(walk[4], generator.generate(z[:1], torch.tensor([8]))[0], atol=1e-5)
    assert main(["interpolate", str(digit_run), "--from", "3", "--to", "8", "--frames", "6",
                 "--out", str(tmp_path / "walk.png")]) == 0
    assert Image.open(tmp_path / "walk.png").size == (6 * 18 + 2, 4 * 18 + 2)
    assert main(["interpolate", str(digit_run), "--from", "3", "--out", str(tmp_path / "bad.png")]) == 2


def test_sampling_options_are_checked(digit_run, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    for argv, message in [(["sample", str(digit_run), "--truncation", "0", "--out", out], "--truncation must be"),
                          (["interpolate", str(digit_run), "--frames", "1", "--out", out], "--frames (at least 2)"),
                          (["interpolate", str(digit_run), "--class", "3", "--from", "3", "--to", "8", "--out", out],
                           "give one of them"),
                          (["sample", str(digit_run), "--class", "²", "--out", out], "unknown class '²'")]:
        assert main(argv) == 2
        assert message in capsys.readouterr().err


def test_truncation_and_slerp():
    rng = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 16, generator=rng)
    resampled = truncate(z, 0.7, "resample", rng=rng)
    assert resampled.abs().max() <= 0.7 and torch.equal(resampled[z.abs() <= 0.7], z[z.abs() <= 0.7])
    # redrawn values follow the truncated normal (its variance at t = 0.7 is 0.1423), even for a tiny t
    redrawn = resampled[z.abs() > 0.7]
    assert len(redrawn) > 1000 and abs(float(redrawn.var()) - 0.1423) < 0.02
    assert truncate(z, 1e-4, "resample", rng=rng).abs().max() <= 1e-4
    assert torch.equal(truncate(z, 0.5, "scale"), z * 0.5)
    with pytest.raises(GanforgeError, match="--truncation-mode"):
        truncate(z, 0.5, "clip")
    a, b = torch.randn(64, generator=rng), torch.randn(64, generator=rng)
    walk = path(a, b, torch.linspace(0, 1, 9))
    assert torch.allclose(walk[0], a, atol=1e-5) and torch.allclose(walk[-1], b, atol=1e-5)
    # slerp keeps the norm near that of its ends, where a straight line passes close to the origin
    assert walk.norm(dim=1).min() > 0.9 * min(a.norm(), b.norm())
    assert path(a, b, torch.tensor([0.5]), spherical=False).norm() < walk[4].norm()


def test_unconditional_runs_take_no_class_and_interpolate_noise(tmp_path, capsys):
    run = ganforge.train("digits", **TINY_DCGAN, steps=2, threads=1, out=tmp_path / "u", progress=False)
    generator = ganforge.load(run.run_dir)
    assert generator.interpolate(4, rows=3).shape == (12, 1, 16, 16)
    with pytest.raises(GanforgeError, match="not class-conditional"):
        generator.sample(4, label="3")
    with pytest.raises(GanforgeError, match="not class-conditional"):
        generator.interpolate(4, label="3")
    assert generator.sample(3, truncation=0.5).shape == (3, 1, 16, 16)


# ----- metrics ---------------------------------------------------------------------------------------------------
def _fed(name, real, real_labels, fake, fake_labels, classes=4):
    dataset = load_dataset("digits")
    dataset.class_names = [str(c) for c in range(classes)]
    metric = METRICS[name].create(Context(dataset, "raw", conditional=True))
    metric.update_labelled(real, real_labels, None, real=True)
    metric.update_labelled(fake, fake_labels, None, real=False)
    return metric.compute()


def test_class_metrics_tell_a_faithful_generator_from_a_label_swapping_one():
    rng = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=rng) * 4

    def draw(n):
        labels = torch.randint(0, 4, (n,), generator=rng)
        return centres[labels] + torch.randn(n, 8, generator=rng), labels

    real, real_labels = draw(800)
    fake, fake_labels = draw(800)
    swapped = (fake_labels + 1) % 4  # each sample claims the next class
    good, bad = (_fed("cas", real, real_labels, fake, lab) for lab in (fake_labels, swapped))
    assert good["cas"] > 0.95 and bad["cas"] < 0.1 and good["cas_real"] > 0.95
    good, bad = (_fed("fidelity", real, real_labels, fake, lab) for lab in (fake_labels, swapped))
    assert good["fidelity"] > 0.95 and bad["fidelity"] < 0.1 and set(good["fidelity_per_class"]) == {"0", "1", "2",
                                                                                                        "3"}
    good, bad = (_fed("intra-fd", real, real_labels, fake, lab) for lab in (fake_labels, swapped))
    assert good["intra_fd"] < 1 < 10 < bad["intra_fd"]


def test_class_metrics_need_a_conditional_run():
    context = Context(load_dataset("digits"), "digits")
    assert "class-conditional" in METRICS["cas"].unavailable(context)
    many = Context(load_dataset("stacked-digits", image_size=16), "digits", conditional=True)
    assert "1,000 classes" in METRICS["intra-fd"].unavailable(many)
    assert METRICS["fidelity"].unavailable(many) is None


def test_eval_of_a_conditional_run_reports_per_class_values(digit_run, capsys):
    assert main(["eval", str(digit_run), "--n", "200", "--metrics", "fidelity,intra-fd", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "fidelity" in out and "fd_per_class" in out
    report = json.loads((digit_run / "eval.json").read_text())
    assert set(report["fidelity_per_class"]) == {str(d) for d in range(10)}


# ----- health ----------------------------------------------------------------------------------------------------
def test_class_reference_sees_a_collapsed_class_and_a_leaking_one(quadrants):
    data = load_dataset(str(quadrants))
    reference = ClassReference(data)
    model = data.codec.encode(torch.tensor(CENTRES, dtype=torch.float32)).double()  # centres in model space
    # classes are sorted names: 0 north-east (2, 2), 1 north-west (-2, 2), 2 south-east (2, -2), 3 south-west
    order = [3, 1, 2, 0]
    labels = torch.arange(4).repeat_interleave(50)
    noise = torch.randn(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.1
    fake = model[[order[c] for c in labels.tolist()]] + noise
    healthy = reference.judge(fake, labels)
    assert healthy["class_diversity_min"] > 0.5 and healthy.get("leak_share", 0) == 0
    collapsed = fake.clone()
    collapsed[labels == 2] = collapsed[labels == 2][0]
    assert reference.judge(collapsed, labels)["collapsed_class"] == "south-east"
    leaking = fake.clone()
    leaking[labels == 1] = fake[labels == 0]  # north-west's samples are north-east's
    judged = reference.judge(leaking, labels)
    assert (judged["leaking_class"], judged["leak_target"], judged["leak_share"]) == ("north-west", "north-east", 1.0)


def test_a_leaking_class_is_diagnosed_while_training(quadrants, tmp_path, monkeypatch):
    # the judgement is planted (its own test is above): this checks that training feeds it to the monitor
    def judge(self, fake, labels):
        return {"leak_share": 0.9, "leaking_class": "north-west", "leak_target": "north-east"}

    monkeypatch.setattr(ClassReference, "judge", judge)
    run = ganforge.train(str(quadrants), precision="fp32", model="mlp", g_width=16, d_width=16, depth=1, steps=300,
                         log_every=10,
                         threads=1, out=tmp_path / "leak", progress=False)
    findings = [e for e in RunFolder(run.run_dir).read_diagnoses() if e["name"] == "class_leakage"]
    assert findings and "north-west look like class north-east" in findings[0]["evidence"]


def test_monitor_raises_class_collapse_and_leakage_after_patience():
    monitor = HealthMonitor("nonsaturating", warmup=0, patience=100)
    started = []
    for step in range(100, 400, 100):
        observation = Observation(step, 1.0, 1.0, 0.6, 0.4, class_diversity_min=0.05, class_diversity_median=0.9,
                                  collapsed_class="7", leak_share=0.9, leaking_class="3", leak_target="8")
        started += [e.finding for e in monitor.observe(observation) if e.kind == "start"]
    names = {f.name: f for f in started}
    assert set(names) == {"class_collapse", "class_leakage"}
    assert "class 7" in names["class_collapse"].evidence and "class 3 look like class 8" in \
        names["class_leakage"].evidence
    calm = HealthMonitor("nonsaturating", warmup=0, patience=100)
    for step in range(100, 400, 100):  # every class low alike is mode collapse, not one class's trouble
        assert not any(e.finding.name.startswith("class_") for e in calm.observe(Observation(
            step, 1.0, 1.0, 0.6, 0.4, class_diversity_min=0.2, class_diversity_median=0.3, leak_share=0.5)))


def test_resuming_on_relabelled_data_is_refused(pets, tmp_path):
    common = dict(TINY_DCGAN, threads=1, progress=False)
    ganforge.train(str(pets), steps=2, out=tmp_path / "run", **common)
    (pets / "dog").rename(pets / "hound")
    with pytest.raises(GanforgeError, match="statistics or classes differ"):
        ganforge.train(resume=tmp_path / "run", steps=4, progress=False)
    (pets / "hound").rename(pets / "dog")
    (pets / "cat" / "0.png").rename(pets / "dog" / "moved.png")  # same classes, same size: one image moved
    with pytest.raises(GanforgeError, match="statistics or classes differ"):
        ganforge.train(resume=tmp_path / "run", steps=4, progress=False)
    (pets / "dog" / "moved.png").rename(pets / "cat" / "0.png")
    assert ganforge.train(resume=tmp_path / "run", steps=4, progress=False).step == 4
