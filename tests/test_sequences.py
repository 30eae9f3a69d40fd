"""Time series: windows and scaling, TimeGAN's sines and metrics, a short run against baselines, files and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.data.sequences import SeriesOptions, csv_sequences, sines, unit_range, windows
from ganforge.diagnostics.monitor import HealthMonitor, Observation
from ganforge.diagnostics.sequences import SequenceHealth
from ganforge.errors import GanforgeError
from ganforge.kinds import kind_for_data
from ganforge.metrics.frechet import frechet_distance, mean_and_covariance
from ganforge.metrics.sequence import correlational_score, discriminative_score, predictive_score
from ganforge.metrics.ts2vec import embed, fit_ts2vec
from ganforge.report import build_report
from ganforge.training.run_folder import RunFolder

# 1,000 steps of this take 14 s at one thread (AMD EPYC).
SHORT = dict(g_width=64, d_width=64, depth=2, latent_dim=16, batch_size=128, seed=0, precision="auto", threads=1,
             progress=False, log_every=100, sample_every=10_000, checkpoint_every=10_000)
TINY = dict(model="sequence", g_width=16, d_width=16, depth=1, latent_dim=8, batch_size=64, precision="fp32",
            threads=1, progress=False, log_every=5, sample_every=1000, checkpoint_every=1000)


def test_windows_and_scaling_round_trip_exactly(tmp_path):
    series = np.random.default_rng(0).normal(size=(50, 3)) * [1, 10, 1000] + [0, 5, -7]
    cut = windows(series, 7, "test")
    assert cut.shape == (44, 7, 3)
    assert np.array_equal(cut[:, 0], series[:44]) and np.array_equal(cut[-1], series[-7:])  # stride 1, in order
    np.save(tmp_path / "s.npy", series)
    dataset = load_dataset(str(tmp_path / "s.npy"), series=SeriesOptions(window=7))
    assert dataset.kind == "sequence" and dataset.sample_shape == (7, 3)
    assert dataset.samples.min() == -1 and dataset.samples.max() == 1  # each feature min-max scaled to [-1, 1]
    back = dataset.codec.decode(dataset.samples).double()
    assert torch.allclose(back, torch.from_numpy(cut), rtol=1e-6, atol=1e-6 * 1000)
    unit = unit_range(back, dataset.codec)
    assert float(unit.min()) == pytest.approx(0, abs=1e-6) and float(unit.max()) == pytest.approx(1, abs=1e-6)


def test_three_dimensional_float_arrays_are_series_and_square_or_integer_ones_images(tmp_path):
    rng = np.random.default_rng(0)
    for name, array, kind in (("series", rng.normal(size=(30, 12, 3)), "sequence"),
                              ("square", rng.normal(size=(30, 8, 8)), "tensor"),
                              ("integers", rng.integers(0, 255, size=(30, 12, 3)), "tensor")):
        np.save(tmp_path / f"{name}.npy", array)
        assert kind_for_data(str(tmp_path / f"{name}.npy")).name == kind, name
    assert kind_for_data(str(tmp_path / "square.npy"), {"sequence": True}).name == "sequence"  # --sequence says so


def test_sines_are_timegans_sines():
    data = sines(2000, seed=3)
    assert data.shape == (2000, 24, 5)
    start = data[:, 0]  # (sin(φ) + 1) / 2 with φ ~ U[0, 0.1]: mean ≈ (1 + 0.05) / 2
    assert start.min() >= 0.5 and start.max() <= (np.sin(0.1) + 1) / 2 + 1e-12
    assert start.mean() == pytest.approx((1 - np.cos(0.1)) / 0.1 / 2 + 0.5, abs=2e-3)
    assert data.min() >= 0.5  # f·t + φ ≤ 0.1·23 + 0.1 < π: every wave stays in the upper half
    frequency = np.arcsin(data[:, 1] * 2 - 1) - np.arcsin(data[:, 0] * 2 - 1)
    assert frequency.min() >= 0 and frequency.max() <= 0.1 + 1e-9 and frequency.mean() == pytest.approx(0.05, abs=3e-3)


def test_the_discriminative_score_is_near_0_for_real_data_and_05_for_noise():
    real, other = (torch.from_numpy(sines(1000, seed=s)).float() for s in (0, 1))
    noise = torch.rand_like(real)
    assert discriminative_score(real, other, iterations=200) < 0.1
    assert discriminative_score(real, noise, iterations=600) > 0.4
    assert correlational_score(real, other) < 0.1 < correlational_score(real, noise)
    # predicting the last feature of an independent sine from the others cannot beat its own spread
    assert predictive_score(other, real, iterations=200) < predictive_score(noise, real, iterations=200)


@pytest.mark.auto_precision
def test_a_short_sines_run_beats_noise_and_shuffled_steps_on_both_scores(tmp_path):
    """1,000 steps of a small default model against two baselines that a generator ignoring its input or time would
    match: noise over the real range, and held-out real series with their steps shuffled (real values, no time).
    Precision auto on purpose: it must hold on bf16 (AMX) as on fp32. Measured on an AMD EPYC (training seeds 0 and
    1 in fp32, 0 in bf16): discriminative 0.03, 0.22 and 0.08 against noise 0.37 and shuffled 0.50; predictive
    0.1205, 0.1211 and 0.1206 against noise 0.1315 and shuffled 0.1233 (real data 0.1179: the shuffled series keep
    the real values, so their error sits near the floor). Classifier and predictor start from the same seed for
    every candidate."""
    run = ganforge.train("sines", out=tmp_path / "s", steps=1000, **SHORT)
    fake = ganforge.load(run.run_dir).sample(1000, seed=0).float()
    real = load_dataset("sines").real_samples(2000, seed=5).float()
    held_out, other = real[:1000], real[1000:]
    noise = torch.rand(1000, 24, 5, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.5  # sines lie in [0.5, 1]
    shuffled = other[:, torch.randperm(24, generator=torch.Generator().manual_seed(0))]
    candidates = {"fake": fake, "noise": noise, "shuffled": shuffled}
    told_apart = {k: discriminative_score(held_out, x, iterations=600) for k, x in candidates.items()}
    assert told_apart["fake"] < min(told_apart["noise"], told_apart["shuffled"]) - 0.1, told_apart
    error = {k: predictive_score(x, held_out, iterations=400) for k, x in candidates.items()}
    assert error["fake"] < error["noise"] - 0.005 and error["fake"] < error["shuffled"] - 0.001, error


def test_sampled_series_are_written_as_csv_rows_of_series_and_step(tmp_path):
    run = ganforge.train("sines", out=tmp_path / "s", steps=2, **TINY)
    out = tmp_path / "synthetic.csv"
    assert main(["sample", str(run.run_dir), "--n", "3", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "series,step,sine0,sine1,sine2,sine3,sine4" and len(lines) == 1 + 3 * 24
    assert lines[1].startswith("0,0,") and lines[-1].startswith("2,23,")


def test_a_long_series_in_a_csv_is_ordered_by_its_time_column(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("day,open,close\n2020-01-03,3,30\n2020-01-01,1,10\n2020-01-02,2,20\n2020-01-04,4,40\n")
    dataset = csv_sequences(path, SeriesOptions(window=2, time_column="day"))
    assert dataset.codec.columns == ["open", "close"]
    assert dataset.codec.decode(dataset.samples).round().tolist() == [[[1, 10], [2, 20]], [[2, 20], [3, 30]],
                                                                      [[3, 30], [4, 40]]]


def test_a_date_column_puts_the_rows_in_time_order_without_being_named(tmp_path):
    path = tmp_path / "newest_first.csv"
    path.write_text("Date,price\n2020-01-04,4\n2020-01-03,3\n2020-01-02,2\n2020-01-01,1\n")
    dataset = csv_sequences(path, SeriesOptions(window=3))
    assert dataset.codec.columns == ["price"]
    assert dataset.codec.decode(dataset.samples).round().flatten().tolist() == [1, 2, 3, 2, 3, 4]


@pytest.mark.parametrize("content, options, message", [
    ("t,a,b\n1,1,2\n2,,3\n3,4,5\n", dict(window=2), "column 'a' of .* has a missing value in data row 2"),
    ("t,a,b\n1,1,2\n2,x,3\n3,4,5\n", dict(window=2), "column 'a' of .* holds text \\('x' in data row 2\\)"),
    ("t,a\n1,1\n2,2\n", dict(window=5), "option --window 5 is longer than the series .* \\(2 steps\\)"),
    ("t,a\n1,1\n2,2\n", dict(window=2, time_column="when"), "option --time-column 'when' is not a column"),
])
def test_bad_series_get_one_line_naming_the_column_or_option(tmp_path, capsys, content, options, message):
    _refused_in_one_line(tmp_path, capsys, content, options, message)


def _refused_in_one_line(tmp_path, capsys, content, options, message):
    """Loading refuses the file with `message`, and `ganforge train` says one line, exits 2 and leaves no run."""
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(GanforgeError, match=message):
        csv_sequences(path, SeriesOptions(**options))
    flags = [f"--{k.replace('_', '-')}={','.join(v) if isinstance(v, tuple) else v}" for k, v in options.items()]
    assert main(["train", "--data", str(path), "--sequence", *flags, "--steps", "1", "--out", str(tmp_path / "run"),
                 "--precision", "fp32", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganforge: error: ") and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_context_fid_is_near_0_for_real_data_and_far_for_noise_and_shuffled_steps():
    real, other = (torch.from_numpy(sines(300, seed=s)).float() for s in (0, 1))
    encoder = fit_ts2vec(real, iterations=60)

    def distance(x):
        return frechet_distance(*mean_and_covariance(embed(encoder, real)), *mean_and_covariance(embed(encoder, x)))

    same = distance(other)
    shuffled = distance(other[:, torch.randperm(24, generator=torch.Generator().manual_seed(0))])
    noise = distance(torch.rand_like(other) * 0.5 + 0.5)
    assert same < shuffled / 3 and shuffled < noise, (same, shuffled, noise)


def test_the_monitor_names_flat_series_and_series_whose_steps_ignore_time():
    real = torch.from_numpy(sines(500, seed=0)).float()
    health = SequenceHealth(real)
    level = real.mean(1, keepdim=True)
    flat = health.judge(level.expand_as(real) + 1e-4 * torch.randn_like(real))
    ignored = health.judge(real[:, torch.randperm(24, generator=torch.Generator().manual_seed(1))])
    fine = health.judge(torch.from_numpy(sines(500, seed=1)).float())
    assert flat["time_variation"] < 0.01 and fine["time_variation"] == pytest.approx(1, abs=0.1)
    assert ignored["time_order"] < 0.1 and fine["time_order"] == pytest.approx(1, abs=0.1)
    assert "time_order" not in SequenceHealth(torch.rand(500, 24, 5)).judge(real)  # white noise has no order to keep

    def findings(measured):
        monitor = HealthMonitor("nonsaturating", warmup=0, patience=20)
        names = set()
        for step in range(10, 60, 10):
            for event in monitor.observe(Observation(step, 1.3, 0.7, 0.5, 0.5, diversity=1.0, movement=0.1,
                                                     **measured)):
                names.add(event.finding.name)
        return names

    assert findings(flat) == {"flat_series"} and findings(ignored) == {"time_ignored"} and findings(fine) == set()


def test_a_sequence_run_reports_its_series_and_embeddings(tmp_path):
    run = ganforge.train("sines", out=tmp_path / "s", steps=20, **TINY)
    ganforge.evaluate(run.run_dir, n=200, metrics="correlational", progress=False)
    page = build_report([run.run_dir]).read_text()
    assert "Series: real vs synthetic" in page and "t-SNE" in page and "PCA" in page
    assert page.count("<svg") >= 3  # the overlays, the embeddings and the training curves
    assert "correlational score" in page


def test_a_generator_whose_steps_ignore_each_other_is_diagnosed(tmp_path, monkeypatch):
    """The dense generator with its steps shuffled anew at every call: each series keeps real-looking values, but
    neighbouring steps have nothing to do with each other. The run must name `time_ignored`, and nothing else."""
    from ganforge.models.mlp import MLPGenerator

    original = MLPGenerator.forward

    def shuffled_steps(self, z):
        x = original(self, z)
        return x[:, torch.randperm(x.shape[1])] if x.dim() == 3 else x

    monkeypatch.setattr(MLPGenerator, "forward", shuffled_steps)
    run = ganforge.train("sines", out=tmp_path / "s", steps=150, **dict(TINY, log_every=5))
    found = {e["name"] for e in RunFolder(run.run_dir).read_diagnoses() if e["event"] == "start"}
    assert found == {"time_ignored"}, found


def _visits(path, patients: int = 90, seed: int = 0):
    """Many series of 4 to 12 steps, each with a ward (category) and an age (whole numbers) that set its level."""
    rng = np.random.default_rng(seed)
    rows = ["patient,day,ward,age,heart,pressure"]
    for patient in range(patients):
        ward, age = ("icu", "a", "b")[patient % 3], int(rng.integers(20, 90))
        level = {"icu": 3.0, "a": 0.0, "b": -3.0}[ward] + age / 30
        for day in range(int(rng.integers(4, 13))):
            rows.append(f"p{patient},{day},{ward},{age},{level + np.sin(day / 3):.4f},{day * 0.2:.4f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_series_of_different_lengths_and_their_attributes_round_trip(tmp_path):
    import pandas as pd

    path = _visits(tmp_path / "visits.csv")
    options = SeriesOptions(None, "day", "patient", ("ward", "age"))
    dataset = csv_sequences(path, options)
    frame = pd.read_csv(path)
    groups = [g for _, g in frame.groupby("patient", sort=True)]
    assert dataset.samples.shape == (90, max(len(g) for g in groups), 2 + 1 + 3 + 1)  # features, presence, attributes
    values, statics = dataset.codec.decode(dataset.samples), dataset.codec.decode_statics(dataset.samples)
    for i, group in enumerate(groups):
        length = len(group)
        torch.testing.assert_close(values[i, :length].double(), torch.tensor(group[["heart", "pressure"]].to_numpy()),
                                   rtol=0, atol=1e-5)
        assert values[i, length:].isnan().all()
        assert statics["ward"][i] == group["ward"].iloc[0] and statics["age"][i] == group["age"].iloc[0]
    assert dataset.codec.layout.lengths_of(dataset.samples).tolist() == [len(g) for g in groups]
    # what `sample` writes is read back the same: a NaN-padded array, and a CSV with one row per lasting step
    np.save(tmp_path / "padded.npy", values.numpy())
    again = load_dataset(str(tmp_path / "padded.npy"), progress=False)
    torch.testing.assert_close(again.codec.decode(again.samples), values, equal_nan=True, rtol=0, atol=1e-5)
    out = tmp_path / "written.csv"
    ganforge.data.export.save_samples(values, "sequence", out, names=["heart", "pressure"], statics=statics)
    written = pd.read_csv(out)
    assert len(written) == len(frame) and list(written.columns) == ["series", "step", "ward", "age", "heart",
                                                                    "pressure"]
    assert (written.groupby("series")["ward"].first().tolist() == [g["ward"].iloc[0] for g in groups])
    assert json.loads(json.dumps(dataset.codec.to_json())) == dataset.codec.to_json()
    assert ganforge.data.Codec.from_json(dataset.codec.to_json()) == dataset.codec


def test_a_run_on_series_with_attributes_samples_their_lengths_and_can_fix_an_attribute(tmp_path):
    import pandas as pd

    path = _visits(tmp_path / "visits.csv", patients=150)
    run = ganforge.train(str(path), id_column="patient", time_column="day", static_columns="ward,age", steps=300,
                         out=tmp_path / "v", seed=0, **{**TINY, "g_width": 64, "d_width": 64})
    generator = ganforge.load(run.run_dir)
    series, statics = generator.sample_series(400, seed=1)
    lengths = (~series.isnan().all(2)).sum(1)
    assert lengths.min() >= 1 and lengths.max() <= 12 and len(set(lengths.tolist())) >= 3  # lengths vary
    shares = pd.Series(statics["ward"]).value_counts(normalize=True)
    assert set(shares.index) == {"icu", "a", "b"} and (shares - 1 / 3).abs().max() < 0.1  # as in the data: none dropped
    assert all(isinstance(a, int) for a in statics["age"])
    fixed, fixed_statics = generator.sample_series(50, seed=1, static={"ward": "b", "age": 40})
    assert set(fixed_statics["ward"]) == {"b"} and set(fixed_statics["age"]) == {40}
    assert not torch.equal(fixed.nan_to_num(), series[:50].nan_to_num())  # the series follow the fixed attributes
    out = tmp_path / "icu.csv"
    assert main(["sample", str(run.run_dir), "--n", "20", "--where", "ward=icu", "--out", str(out), "--quiet"]) == 0
    written = pd.read_csv(out)
    assert set(written["ward"]) == {"icu"} and written.groupby("series").size().min() >= 1
    with pytest.raises(GanforgeError, match="option --static 'height' is not an attribute of this run"):
        generator.sample_series(2, static={"height": 1})
    with pytest.raises(GanforgeError, match="attribute 'ward' has no value 'x'"):
        generator.sample_series(2, static={"ward": "x"})


def test_categories_are_drawn_from_the_datas_shares_of_their_combinations_and_follow_fixed_ones():
    import pandas as pd
    from torch import nn

    from ganforge.data.base import SeriesLayout, Static
    from ganforge.models.structured import StructuredSeriesGenerator

    layout = SeriesLayout(False, (Static("ward", values=("a", "b", "c")), Static("age", 50.0, 30.0),
                                  Static("sex", values=("f", "m"))),
                          shares=(((0, 0), 0.6), ((1, 1), 0.3), ((2, 0), 0.1)))
    series = nn.Sequential(nn.Linear(32 - 8 + 6, 4 * 2), nn.Unflatten(1, (4, 2)))
    generator = StructuredSeriesGenerator(series, layout, features=2, latent_dim=32, steps=4)
    z = torch.randn(6000, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        drawn = layout.decode_statics(generator(z), features=2)
    pairs = pd.Series(list(zip(drawn["ward"], drawn["sex"], strict=True))).value_counts(normalize=True)
    assert set(pairs.index) == {("a", "f"), ("b", "m"), ("c", "f")}  # only the data's combinations
    assert abs(pairs[("a", "f")] - 0.6) < 0.03 and abs(pairs[("c", "f")] - 0.1) < 0.02
    given = layout.encode_statics({"sex": "f"}, len(z))
    with torch.no_grad():
        fixed = layout.decode_statics(generator(z, given), features=2)
    wards = pd.Series(fixed["ward"]).value_counts(normalize=True)
    assert set(fixed["sex"]) == {"f"} and set(wards.index) == {"a", "c"} and abs(wards["a"] - 6 / 7) < 0.03
    with torch.no_grad():  # a combination the data never had is still made as asked
        unseen = layout.decode_statics(generator(z[:10], layout.encode_statics({"ward": "b", "sex": "f"}, 10)), 2)
    assert set(unseen["ward"]) == {"b"} and set(unseen["sex"]) == {"f"}


def test_resume_of_a_run_on_series_with_attributes_is_bit_identical(tmp_path):
    from safetensors.torch import load_file

    from ganforge.training import checkpoint as ckpt

    path = _visits(tmp_path / "visits.csv")
    common = dict(TINY, data=str(path), id_column="patient", static_columns="ward,age", log_every=1,
                  checkpoint_every=4, seed=5)
    ganforge.train(**common, steps=12, out=tmp_path / "straight")
    ganforge.train(**common, steps=7, out=tmp_path / "split")
    ganforge.train(resume=tmp_path / "split", steps=12, progress=False)
    straight, split = (load_file(str(ckpt.find_checkpoint(tmp_path / name) / ckpt.MODELS_FILE))
                       for name in ("straight", "split"))
    assert straight.keys() == split.keys() and any(k.startswith("generator.attributes.") for k in straight)
    for name in straight:
        assert torch.equal(straight[name], split[name]), name


@pytest.mark.parametrize("rows, options, message", [
    ("id,t,g,a\n1,0,x,1\n1,1,y,2\n2,0,x,3\n2,1,x,4\n", dict(id_column="id", static_columns=("g",)),
     "static column 'g' of .* changes within series 1"),
    ("id,t,g,a\n1,0,,1\n1,1,,2\n", dict(id_column="id", static_columns=("g",)),
     "static column 'g' of .* has a missing value in series 1"),
    ("t,g,a\n0,x,1\n1,x,2\n", dict(window=2, static_columns=("g",)), "option --static-columns needs --id-column"),
    ("id,t,a\n1,0,1\n1,1,2\n", dict(id_column="id", static_columns=("h",)),
     "option --static-columns 'h' is not a column"),
])
def test_bad_attributes_get_one_line_naming_the_column(tmp_path, capsys, rows, options, message):
    _refused_in_one_line(tmp_path, capsys, rows, options, message)


def test_nan_inside_a_series_is_refused_and_padding_is_not():
    padded = np.zeros((3, 5, 2))
    padded[0, 3:] = np.nan
    assert len(ganforge.data.sequences._unpadded(padded, "p.npy")) == 3
    padded[1, 1, 0] = np.nan
    with pytest.raises(GanforgeError, match="sequence 1 has NaN at step 1 that is not padding"):
        ganforge.data.sequences._unpadded(padded, "p.npy")


def test_the_scores_read_series_of_different_lengths_up_to_their_ends():
    torch.manual_seed(0)
    lengths = torch.randint(4, 13, (600,))
    ended = (torch.arange(12)[None] >= lengths[:, None])[..., None]
    ramps = torch.linspace(0, 1, 12)[None, :, None] * torch.rand(600, 1, 3)  # each series a ramp of its own slope
    real, other = ramps[:300].masked_fill(ended[:300], float("nan")), ramps[300:].masked_fill(ended[300:], float("nan"))
    noise = torch.rand(300, 12, 3).masked_fill(ended[:300], float("nan"))
    assert discriminative_score(real, other, iterations=300) < 0.1
    assert discriminative_score(real, noise, iterations=300) > 0.3
    assert correlational_score(real, other) < correlational_score(real, noise)
    assert predictive_score(other, real, iterations=300) < predictive_score(noise, real, iterations=300)
