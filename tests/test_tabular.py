"""Synthetic tables: column inference, the transform's round trip, the guarantees on sampled rows, exact
conditional sampling, determinism, bounded memory for high-cardinality columns, the quality report and bad input."""

import json
import os
import signal

import numpy as np
import pandas as pd
import pytest
import torch

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.tabular import TableGAN, TableTransformer, infer_columns, read_table
from ganforge.tabular import quality as gq
from ganforge.tabular.schema import MAX_MODELLED_CATEGORIES
from ganforge.tabular.task import TableTask

FAST = {"epochs": 2, "batch_size": 100, "generator_dims": (32,), "discriminator_dims": (32,), "latent_dim": 8,
        "precision": "fp32"}


def mixed_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """One column of every kind, with missing values in three of them."""
    rng = np.random.default_rng(seed)
    churned = rng.choice(["yes", "no"], n, p=[0.3, 0.7])
    income = np.exp(rng.normal(10, 0.5, n))
    income[rng.random(n) < 0.2] = np.nan
    plan = rng.choice(["basic", "pro", "max"], n, p=[0.6, 0.3, 0.1]).astype(object)
    plan[rng.random(n) < 0.1] = None
    return pd.DataFrame({
        "age": np.where(churned == "yes", rng.normal(30, 3, n), rng.normal(60, 3, n)).round().astype(int),
        "income": income,
        "kids": rng.integers(0, 4, n),
        "active": rng.random(n) < 0.7,
        "plan": plan,
        "churned": churned,
        "joined": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"))
        .strftime("%Y-%m-%d"),
        "seen": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
    })


def test_column_kinds_are_inferred_and_can_be_overridden():
    frame = mixed_table()
    kinds = {spec.name: spec.kind for spec in infer_columns(frame)}
    assert kinds == {"age": "integer", "income": "continuous", "kids": "categorical", "active": "boolean",
                     "plan": "categorical", "churned": "categorical", "joined": "datetime", "seen": "datetime"}
    forced = {spec.name: spec.kind for spec in infer_columns(frame, categorical=["age"], ignore=["seen"])}
    assert forced["age"] == "categorical" and "seen" not in forced
    income = next(spec for spec in infer_columns(frame) if spec.name == "income")
    assert income.missing_rate == pytest.approx(frame["income"].isna().mean())


def test_every_column_kind_survives_the_transform_round_trip():
    frame = mixed_table(2000)
    transformer = TableTransformer.fit(frame, infer_columns(frame), seed=0)
    offsets, codes = transformer.encode(frame, seed=0)
    assert offsets.dtype == np.float32 and codes.dtype == np.int64  # one-hot groups are stored as codes
    rows = transformer.expand(torch.from_numpy(offsets), torch.from_numpy(codes))
    assert rows.shape == (2000, transformer.width)
    back = transformer.decode(rows)
    for name in ("kids", "active", "plan", "churned"):
        pd.testing.assert_series_equal(back[name], frame[name], check_dtype=False, check_names=False)
    assert back["age"].dtype == frame["age"].dtype and back["active"].dtype == bool
    assert (back["age"] == frame["age"]).mean() > 0.99  # an offset is clipped only > 3.96σ from its mode
    assert (back["income"].isna() == frame["income"].isna()).all()
    present = frame["income"].notna()
    assert np.isclose(back["income"][present], frame["income"][present], rtol=1e-4).mean() > 0.99
    assert (back["joined"] == frame["joined"]).mean() > 0.99
    assert (back["seen"] - frame["seen"]).abs().max() <= pd.Timedelta(seconds=2) or \
        ((back["seen"] - frame["seen"]).abs() <= pd.Timedelta(seconds=2)).mean() > 0.99


def test_sampled_rows_keep_dtypes_ranges_categories_and_missing_values():
    frame = mixed_table(800)
    model = TableGAN(**FAST).fit(frame)
    rows = model.sample(3000, seed=0)
    assert list(rows.columns) == list(frame.columns)
    assert rows["age"].dtype == frame["age"].dtype and rows["kids"].dtype == frame["kids"].dtype
    assert rows["active"].dtype == bool
    assert rows["age"].between(frame["age"].min(), frame["age"].max()).all()
    present = rows["income"].dropna()
    assert present.between(frame["income"].min(), frame["income"].max()).all()
    assert set(rows["plan"].dropna()) <= set(frame["plan"].dropna())
    assert set(rows["kids"]) <= set(frame["kids"])
    assert pd.to_datetime(rows["joined"]).between(pd.to_datetime(frame["joined"]).min(),
                                                  pd.to_datetime(frame["joined"]).max()).all()


@pytest.mark.slow
def test_conditional_sampling_is_exact_and_carries_the_relation():
    frame = mixed_table(2000)[["age", "churned", "plan"]]
    # no weight average: over a 600-step run its ~200-step memory would blur what this test looks for
    model = TableGAN(epochs=60, batch_size=200, seed=0, ema=0.0, precision="fp32").fit(frame)
    churners = model.sample(1000, where={"churned": "yes"}, seed=1)
    stayers = model.sample(1000, where={"churned": "no"}, seed=1)
    assert (churners["churned"] == "yes").all() and (stayers["churned"] == "no").all()
    # real: churners are about 30, the others about 60; the condition must move the generated ages accordingly
    assert churners["age"].mean() + 10 < stayers["age"].mean()  # measured: 34.8 vs 49.9
    rare = model.sample(50, where={"plan": "max"}, seed=2)
    assert (rare["plan"] == "max").all()


def test_same_seed_same_rows_and_save_load(tmp_path):
    frame = mixed_table(400)
    first = TableGAN(**FAST, seed=3).fit(frame)
    second = TableGAN(**FAST, seed=3).fit(frame)
    pd.testing.assert_frame_equal(first.sample(200, seed=5), second.sample(200, seed=5))
    assert not first.sample(200, seed=5).equals(first.sample(200, seed=6))
    first.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["table.json", "table_model.safetensors"]
    loaded = TableGAN.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.sample(200, seed=5), first.sample(200, seed=5))
    pd.testing.assert_frame_equal(loaded.sample(30, where={"plan": "pro"}, seed=1),
                                  first.sample(30, where={"plan": "pro"}, seed=1))


def test_high_cardinality_columns_use_bounded_memory_and_still_train():
    rng = np.random.default_rng(0)
    n, distinct = 6000, 3000
    frame = pd.DataFrame({"city": [f"city-{i}" for i in rng.zipf(1.3, n) % distinct],
                          "spend": rng.gamma(2.0, 50.0, n)})
    spec = next(s for s in infer_columns(frame) if s.name == "city")
    assert len(spec.categories) == MAX_MODELLED_CATEGORIES and len(spec.rare_categories) > 0
    model = TableGAN(**FAST).fit(frame)
    # the widest layer is bounded by the modelled categories, not by the distinct values
    assert model.transformer.width <= MAX_MODELLED_CATEGORIES + 2 + 11
    rows = model.sample(2000, seed=0)
    seen = set(frame["city"])
    assert set(rows["city"]) <= seen
    rare_value = spec.rare_categories[-1]
    assert (model.sample(10, where={"city": rare_value}, seed=0)["city"] == rare_value).all()


def test_quality_report_on_known_cases():
    frame = mixed_table(1000)
    kinds = {spec.name: spec.kind for spec in infer_columns(frame)}
    same = gq.quality_report(frame, frame, kinds)
    assert same["quality"] == pytest.approx(1.0) and same["column_shapes"] == pytest.approx(1.0)
    shuffled = frame.copy()
    shuffled["age"] = shuffled["age"].sample(frac=1, random_state=0).to_numpy()  # same marginal, relation broken
    broken = gq.quality_report(frame, shuffled, kinds)
    assert broken["column_shapes"] == pytest.approx(1.0) and broken["column_pair_trends"] < 0.9
    # hand-computed: categories a/b at 50/50 vs 80/20 → TV distance 0.3
    real, fake = pd.DataFrame({"c": ["a", "b"] * 5}), pd.DataFrame({"c": ["a"] * 8 + ["b"] * 2})
    assert gq.column_shapes(real, fake, {"c": "categorical"})["c"] == pytest.approx(0.7)
    copies = gq.privacy(frame, mixed_table(300, seed=9), frame.iloc[:300], kinds)
    assert copies["exact_copies"] == 1.0 and copies["dcr_synthetic_median"] == 0.0
    effect = gq.efficacy(frame, mixed_table(500, seed=5), kinds, "churned")
    assert effect["metric"] == "auc" and effect["score"] > 0.95  # age tells churners apart


@pytest.fixture
def tables(tmp_path):
    mixed_table(300).to_csv(tmp_path / "customers.csv", index=False)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("a,b\n")
    (tmp_path / "twice.csv").write_text("a,b,a\n1,2,3\n")
    (tmp_path / "blank_column.csv").write_text("a,b\n" + "".join(f"{i},\n" for i in range(210)))
    (tmp_path / "binary.csv").write_bytes(b"\x00\xff\xfe" * 100)
    return tmp_path


@pytest.mark.parametrize(("file", "extra", "message"), [
    ("empty.csv", [], "is empty"),
    ("header_only.csv", [], "has no rows"),
    ("twice.csv", [], "duplicate column names: 'a'"),
    ("blank_column.csv", [], "column 'b' of table"),
    ("binary.csv", [], "could not be read"),
    ("customers.csv", ["--ignore", "nope"], "--ignore names column(s) 'nope'"),
])
def test_bad_tables_are_one_line_errors(tables, capsys, file, extra, message):
    assert main(["train", "--data", str(tables / file), "--out", str(tables / "run"), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_table_run_end_to_end_from_the_command_line(tables, capsys, caplog):
    run = tables / "runs" / "cust"
    assert main(["train", "--precision", "fp32", "--data", str(tables / "customers.csv"), "--epochs", "2",
                 "--batch-size", "100",
                 "--out", str(run), "--quiet"]) == 0
    assert "fitted 2 epochs" in capsys.readouterr().out
    assert (run / "samples" / "preview.csv").is_file()
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert main(["sample", str(run), "--n", "40", "--where", "churned=yes", "--out", str(tables / "c.csv")]) == 0
    rows = read_table(tables / "c.csv")
    assert len(rows) == 40 and (rows["churned"] == "yes").all()
    assert main(["sample", str(run), "--n", "5", "--where", "churned=maybe", "--out", str(tables / "x.csv")]) == 2
    assert "value never seen in training" in capsys.readouterr().err
    assert main(["sample", str(run), "--n", "5", "--where", "churned", "--out", str(tables / "x.csv")]) == 2
    assert "expects column=value" in capsys.readouterr().err
    assert main(["sample", str(run), "--n", "5", "--where", "plan=max", "--where", "churned=yes",
                 "--out", str(tables / "x.csv")]) == 2
    assert "--where takes one column=value condition, got 2" in capsys.readouterr().err
    assert main(["sample", str(run), "--n", "5", "--checkpoint", "step_000001", "--out", str(tables / "x.csv")]) == 2
    assert "--checkpoint applies to image and vector runs" in capsys.readouterr().err
    mixed_table(200, seed=7).to_csv(tables / "holdout.csv", index=False)
    assert main(["eval", str(run), "--real", str(tables / "holdout.csv"), "--target", "churned"]) == 0
    report = json.loads((run / "eval.json").read_text())
    assert 0 <= report["efficacy"]["synthetic"]["score"] <= 1
    assert report["efficacy"]["real"]["score"] > 0.95  # age separates churned in this table: real rows learn it
    model = TableGAN.load(run / "model")  # the report compares the training table with the run's own samples
    kinds = {spec.name: spec.kind for spec in model.transformer.columns}
    expected = gq.quality_report(read_table(tables / "customers.csv"), model.sample(report["rows_synthetic"], seed=0),
                                 kinds)
    assert report["quality"] == pytest.approx(expected["quality"]) and report["quality"] < 0.99
    assert main(["eval", str(run), "--real", str(tables / "customers.csv")]) == 0  # "held-out" = the training rows
    assert json.loads((run / "eval.json").read_text())["privacy"]["holdout_exact_copies"] == 1.0
    assert "exact_copies" in report["privacy"] and report["rows_holdout"] == 200
    assert "mostly noise" not in caplog.text
    mixed_table(20, seed=8).to_csv(tables / "tiny_holdout.csv", index=False)
    with caplog.at_level("WARNING", logger="ganforge"):
        assert main(["eval", str(run), "--real", str(tables / "tiny_holdout.csv")]) == 0
    assert "tiny_holdout.csv has only 20 rows" in caplog.text


def test_a_model_file_from_a_stranger_is_not_unpickled(tmp_path):
    import pickle

    TableGAN(**FAST).fit(mixed_table(200)).save(tmp_path)  # a valid description, so loading reaches the tensors
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))  # creates a file if anything unpickles it

    (tmp_path / "table_model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(GanforgeError, match="table_model.safetensors is not a safetensors file"):
        TableGAN.load(tmp_path)
    assert not marker.exists()
    (tmp_path / "table.json").write_text('{"format": "something-else"}')
    with pytest.raises(GanforgeError, match="format"):
        TableGAN.load(tmp_path)


def test_dates_keep_their_own_format_and_non_dates_stay_categories():
    days = pd.date_range("2020-01-01", periods=100, freq="D")
    frame = pd.DataFrame({"day_first": days.strftime("%d/%m/%Y"), "mixed": [*days[:90].strftime("%Y-%m-%d"),
                                                                             *["unknown"] * 10]})
    specs = {spec.name: spec for spec in infer_columns(frame)}
    assert specs["day_first"].kind == "datetime" and specs["day_first"].date_format == "%d/%m/%Y"
    assert specs["mixed"].kind == "categorical"  # one value that is not a date keeps the column as text
    transformer = TableTransformer.fit(frame, list(specs.values()))
    offsets, codes = transformer.encode(frame)
    back = transformer.decode(transformer.expand(torch.from_numpy(offsets), torch.from_numpy(codes)))
    assert (back["day_first"] == frame["day_first"]).mean() > 0.95
    assert pd.to_datetime(back["day_first"], format="%d/%m/%Y").max() <= days.max()


def test_where_accepts_values_as_the_command_line_writes_them(tmp_path):
    frame = mixed_table(300)
    frame.loc[::7, "kids"] = np.nan  # read back as float: categories 0.0, 1.0, …
    model = TableGAN(**FAST).fit(frame)
    assert (model.sample(20, where={"kids": "2"}, seed=0)["kids"] == 2).all()
    assert model.sample(20, where={"active": "true"}, seed=0)["active"].all()
    assert not model.sample(20, where={"active": "no"}, seed=0)["active"].any()


def test_odd_but_valid_tables(tmp_path):
    (tmp_path / "semicolons.csv").write_text("a;b\n1;x\n2;y\n3;x\n")
    assert list(read_table(tmp_path / "semicolons.csv").columns) == ["a", "b"]
    numbered = pd.DataFrame({0: np.arange(50) * 1.5, 1: ["u", "v"] * 25})
    assert list(TableGAN(**FAST).fit(numbered).sample(5).columns) == ["0", "1"]
    with pytest.raises(GanforgeError, match="column 'x' of table holds infinite values"):
        infer_columns(pd.DataFrame({"x": [1.5, np.inf] + [float(i) for i in range(30)]}))


def test_sampling_never_overwrites_the_training_table(tables, capsys):
    run = tables / "runs" / "guard"
    assert main(["train", "--precision", "fp32", "--data", str(tables / "customers.csv"), "--epochs", "1",
                 "--batch-size", "100",
                 "--out", str(run), "--quiet"]) == 0
    before = (tables / "customers.csv").read_bytes()
    assert main(["sample", str(run), "--n", "5", "--out", str(tables / "customers.csv")]) == 2
    assert "is the table this run was trained on" in capsys.readouterr().err
    assert (tables / "customers.csv").read_bytes() == before


def test_table_runs_take_their_own_defaults_and_the_options_given(tables, capsys, caplog):
    """Options left out keep TableGAN's measured defaults; options given (even 0 or 1) override them; image-only
    options are named in a warning instead of being dropped silently."""
    default_run, tuned_run = tables / "runs" / "default", tables / "runs" / "tuned"
    common = ["train", "--precision", "fp32", "--data", str(tables / "customers.csv"), "--epochs", "1",
              "--batch-size", "100", "--quiet"]
    assert main([*common, "--out", str(default_run)]) == 0
    stored = json.loads((default_run / "config.json").read_text())["config"]
    assert (stored["ema"], stored["pac"], stored["gp"], stored["gp_every"]) == (0.995, 5, 10.0, 2)
    with caplog.at_level("WARNING", logger="ganforge"):
        assert main([*common, "--out", str(tuned_run), "--ema", "0", "--pack", "1", "--gp", "0", "--lazy-every", "2",
                     "--steps", "50", "--loss", "hinge"]) == 0
    stored = json.loads((tuned_run / "config.json").read_text())["config"]
    assert (stored["ema"], stored["pac"], stored["gp"], stored["gp_every"]) == (0.0, 1, 0.0, 2)
    assert "options --loss, --steps do not apply to tables and were ignored" in caplog.text


def test_default_training_length_grows_with_the_table_and_is_stored(tables, capsys, monkeypatch):
    """About 0.85·√rows passes, capped, with a floor of steps on small tables; a run stores the number it resolved,
    so a resume keeps its total; a --pack that does not divide the default batch rounds the batch down."""
    from ganforge.tabular import options as gan

    config = gan.TableGANConfig()
    assert (config.lr_g, config.lr_d) == (4e-4, 4e-4)
    assert (config.batch_for(600), config.batch_for(5_092), config.batch_for(16_152)) == (250, 250, 500)
    assert gan.TableGANConfig(batch_size=64, pac=5).batch_for(16_152) == 60  # given: kept, a multiple of the pack
    assert config.epochs_for(5_092) == 61 and config.epochs_for(16_152) == 109  # the benchmark's fair and randhie
    assert config.epochs_for(500) == 625  # 2 steps a pass: the 1,250-step floor
    assert config.epochs_for(10**6) == gan.MAX_EPOCHS
    assert gan.TableGANConfig(epochs=7).epochs_for(10**6) == 7
    monkeypatch.setattr(gan, "PASSES_PER_ROOT_ROW", 0.01)
    monkeypatch.setattr(gan, "TRAINING_STEPS", 1)  # one pass, to keep the test short
    run = tables / "runs" / "resolved"
    assert main(["train", "--precision", "fp32", "--data", str(tables / "customers.csv"), "--out", str(run),
                 "--pack", "4", "--quiet"]) == 0
    written = json.loads((run / "config.json").read_text())
    stored = written["config"]
    assert (stored["epochs"], stored["batch_size"], stored["pac"]) == (1, 248, 4)  # 250 rounded to the pack
    assert stored["threads"] == 0 and written["runtime"]["threads"] == 1  # tables' matrices are too small to share


def test_weights_an_optimizer_changed_are_cast_again_under_bf16():
    """Autocast keeps one bf16 cast per weight for its whole block; after an optimizer step inside the block the
    table GAN drops those casts, or the generator would be judged by the critic from before its update."""
    from ganforge.tabular.task import _forget_autocast_weights

    layer, rows = torch.nn.Linear(4, 4), torch.randn(2, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        before = layer(rows)
        with torch.no_grad():
            layer.weight.add_(1.0)
        _forget_autocast_weights()
        after = layer(rows)
    assert not torch.equal(before, after)
    torch.testing.assert_close(after.float(), torch.nn.functional.linear(rows, layer.weight, layer.bias),
                               atol=0.1, rtol=0.05)


def test_zoned_datetimes_come_back_in_their_zone():
    """A zone-aware column keeps its zone and a text column keeps its UTC offset; every instant survives."""
    rng = np.random.default_rng(0)
    stamps = pd.Timestamp("2021-03-01 08:00", tz="Europe/Paris") + pd.to_timedelta(rng.integers(0, 10**7, 300), "s")
    frame = pd.DataFrame({"zoned": stamps, "offset_text": stamps.strftime("%Y-%m-%d %H:%M:%S%z")})
    transformer = TableTransformer.fit(frame, infer_columns(frame, [], [], "t"))
    offsets, codes = transformer.encode(frame)
    back = transformer.decode(transformer.expand(torch.from_numpy(offsets), torch.from_numpy(codes)))
    assert str(back["zoned"].dt.tz) == "Europe/Paris"
    assert (back["zoned"] == frame["zoned"]).all()
    assert back["offset_text"].str.endswith("+0200").all()  # summer time is the commonest offset here
    assert (pd.to_datetime(back["offset_text"], utc=True) == frame["zoned"]).all()


def test_training_by_sampling_draws_rows_that_match_their_condition():
    """Every drawn row has the category its conditional vector names; categories come by log-frequency, so a
    category 100× rarer is drawn far more often than 1 % of the time (that is how rare categories get learnt)."""
    from ganforge.tabular.model import ConditionSampler
    from ganforge.tabular.transform import Span

    codes = torch.stack([torch.tensor([0] * 990 + [1] * 10), torch.arange(1000) % 3], 1)
    sampler = ConditionSampler(codes, [Span(0, "category", 2, 0), Span(1, "category", 3, 1)])
    vectors, column, category, rows = sampler.training_batch(20_000, torch.Generator().manual_seed(0))
    assert torch.equal(codes[rows, column], category)
    assert torch.equal(vectors.argmax(1), sampler.starts[column] + category) and (vectors.sum(1) == 1).all()
    rare_share = (category[column == 0] == 1).float().mean().item()
    expected = np.log1p(10) / (np.log1p(10) + np.log1p(990))
    assert abs(rare_share - expected) < 0.02
    plain = sampler.frequency_batch(20_000, torch.Generator().manual_seed(0))
    assert abs(plain[:, 1].sum().item() / plain[:, :2].sum().item() - 0.01) < 0.005


def test_grouped_softmax_matches_one_softmax_per_group():
    from ganforge.tabular.model import group_logsumexp, group_softmax

    values = torch.randn(5, 6, requires_grad=True)
    group = torch.tensor([0, 0, 0, 1, 1, 2])
    expected = torch.cat([values[:, :3].softmax(1), values[:, 3:5].softmax(1), values[:, 5:].softmax(1)], 1)
    assert torch.allclose(group_softmax(values, group, 3), expected, atol=1e-6)
    assert torch.allclose(group_logsumexp(values, group, 3)[:, 1], values[:, 3:5].logsumexp(1), atol=1e-6)
    weights = torch.randn(5, 6)
    (mine,) = torch.autograd.grad((group_softmax(values, group, 3) * weights).sum(), values)
    (theirs,) = torch.autograd.grad((expected * weights).sum(), values)
    assert torch.allclose(mine, theirs, atol=1e-6)


def test_an_interrupted_fit_resumes_exactly(tmp_path, monkeypatch):
    """Ctrl-C in the middle of an epoch saves a checkpoint; resuming from it gives the very model an uninterrupted
    fit gives, and the same loss history."""
    frame = mixed_table(300)
    options = {**FAST, "epochs": 4, "batch_size": 50}
    straight = TableGAN(**options).fit(frame, checkpoints=tmp_path / "straight", checkpoint_every=1)

    real_step, calls = TableTask.train_step, []

    def step_with_ctrl_c(self, *args):
        calls.append(1)
        if len(calls) == 15:  # mid epoch 3 (6 steps an epoch): Ctrl-C arrives while the step runs
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, *args)

    monkeypatch.setattr(TableTask, "train_step", step_with_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        TableGAN(**options).fit(frame, checkpoints=tmp_path / "stopped", checkpoint_every=1)
    monkeypatch.undo()
    assert (tmp_path / "stopped" / "step_000015").is_dir()  # the step it was in was finished, then saved
    resumed = TableGAN(**options).fit(frame, checkpoints=tmp_path / "stopped", resume=True)
    assert [r["d_loss"] for r in resumed.history] == [r["d_loss"] for r in straight.history]
    pd.testing.assert_frame_equal(resumed.sample(50, seed=3), straight.sample(50, seed=3))
    finished = TableGAN(**options).fit(frame, checkpoints=tmp_path / "stopped", resume=True)  # nothing left to do
    pd.testing.assert_frame_equal(finished.sample(50, seed=3), straight.sample(50, seed=3))
    with pytest.raises(GanforgeError, match="past the"):
        TableGAN(**{**options, "epochs": 3}).fit(frame, checkpoints=tmp_path / "stopped", resume=True)
    with pytest.raises(GanforgeError, match="other options .*lr_g"):
        TableGAN(**{**options, "epochs": 6, "lr_g": 1e-3}).fit(frame, checkpoints=tmp_path / "stopped", resume=True)
    with pytest.raises(GanforgeError, match="another table"):
        TableGAN(**{**options, "epochs": 6}).fit(mixed_table(300, seed=1), checkpoints=tmp_path / "stopped",
                                                 resume=True)
    with pytest.raises(GanforgeError, match="already holds checkpoints"):
        TableGAN(**options).fit(frame, checkpoints=tmp_path / "stopped")


def test_a_table_run_stopped_by_ctrl_c_resumes_from_the_command_line(tables, capsys, monkeypatch):
    run, table = tables / "runs" / "stopped", str(tables / "customers.csv")
    real_step, calls = TableTask.train_step, []

    def step_with_ctrl_c(self, *args):
        calls.append(1)
        if len(calls) == 5:  # in epoch 2 (3 steps an epoch), after epoch 1's checkpoint
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, *args)

    monkeypatch.setattr(TableTask, "train_step", step_with_ctrl_c)
    assert main(["train", "--precision", "fp32", "--data", table, "--epochs", "3", "--batch-size", "100",
                 "--checkpoint-every", "1",
                 "--out", str(run), "--quiet"]) == 130
    assert f"interrupted after epoch 1; checkpoint saved. Continue with: ganforge train --resume {run}" in \
        capsys.readouterr().out
    assert main(["sample", str(run), "--n", "5", "--out", str(tables / "x.csv")]) == 2
    assert "has not finished fitting" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--lr-g", "0.001"]) == 2
    assert "--lr-g cannot change when resuming" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    epochs = lambda: [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert epochs() == [1, 2, 3]
    assert main(["train", "--resume", str(run), "--epochs", "4", "--quiet"]) == 0  # train a finished run longer
    assert epochs() == [1, 2, 3, 4]
    assert main(["train", "--resume", str(run), "--quiet"]) == 2  # refused, and the finished run stays usable
    assert "already at epoch 4" in capsys.readouterr().err
    assert main(["sample", str(run), "--n", "5", "--out", str(tables / "x.csv")]) == 0
    assert len(read_table(tables / "x.csv")) == 5


class Answer(torch.nn.Module):
    """A stand-in network that always gives the same output."""

    def __init__(self, output: torch.Tensor):
        super().__init__()
        self.output = output

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.output


def test_target_head_reads_the_target_back_from_encoded_rows():
    """The auxiliary model's loss compares its prediction with the target as the encoded row holds it: a category's
    one-hot group; numeric targets are refused by name."""
    from ganforge.tabular.model import TargetHead

    frame = mixed_table(400)
    transformer = TableTransformer.fit(frame, infer_columns(frame, [], [], "t"))
    offsets, codes = transformer.encode(frame)
    rows = transformer.expand(torch.from_numpy(offsets), torch.from_numpy(codes))
    names = [spec.name for spec in transformer.columns]

    def code_of(name: str, role: str) -> torch.Tensor:
        span = next(s for s in transformer.spans if s.column == names.index(name) and s.role == role)
        return torch.nn.functional.one_hot(torch.from_numpy(codes[:, span.slot]), span.width).float()

    churn = TargetHead(transformer.spans, names.index("churned"))
    assert len(churn.features) == transformer.width - len(churn.label)
    churn.net = Answer(code_of("churned", "category") * 50)  # sure of each row's own category
    assert churn.loss(rows).item() < 1e-6
    churn.net = Answer(torch.zeros(len(rows), 2))  # no idea: log 2 per row
    assert churn.loss(rows).item() == pytest.approx(np.log(2), rel=1e-5)

    model = TableGAN(**FAST, target="churned").fit(frame)
    assert all(np.isfinite(record["target_loss"]) for record in model.history)
    with pytest.raises(GanforgeError, match="target 'nope' is not a modelled column"):
        TableGAN(**FAST, target="nope").fit(frame)
    with pytest.raises(GanforgeError, match="target 'income' is continuous"):
        TableGAN(**FAST, target="income").fit(frame)


def test_tiny_tables_are_refused_or_warned_and_copies_are_reported(tmp_path, capsys, caplog):
    mixed_table(1).to_csv(tmp_path / "one.csv", index=False)
    assert main(["train", "--precision", "fp32", "--data", str(tmp_path / "one.csv"), "--out", str(tmp_path / "r1"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "has 1 row; a GAN needs at least 10 rows" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r1").exists()
    rng = np.random.default_rng(0)  # two independent numbers: |r| stays far below 0.5, so no pair counts
    pd.DataFrame({"a": rng.normal(size=150), "b": rng.normal(size=150)}).to_csv(tmp_path / "few.csv", index=False)
    with caplog.at_level("WARNING", logger="ganforge"):
        assert main(["train", "--precision", "fp32", "--data", str(tmp_path / "few.csv"), "--epochs", "2", "--out",
                     str(tmp_path / "r"),
                     "--quiet"]) == 0
    assert "has only 150 rows" in caplog.text
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "pair trends n/a: no associated column pairs" in out and "of synthetic rows equal a training row" in out
    report = json.loads((tmp_path / "r" / "eval.json").read_text())
    assert report["pairs_counted"] == 0 and 0 <= report["training_copies"] <= 1


def test_exact_copy_share_counts_rows_equal_to_a_training_row():
    train = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": ["x", "y", "z"]})
    synthetic = pd.DataFrame({"a": [1.0, 2.0, np.nan, 1.0], "b": ["x", "x", "z", "y"]})
    assert gq.exact_copy_share(train, synthetic) == 0.5  # (1, x) and (NaN, z)
    # an integer column with blanks reads as float from a CSV, and samples come back as Int64: still copies
    read = pd.DataFrame({"n": [30.0, np.nan, 41.0], "b": [True, False, True]})
    sampled = pd.DataFrame({"n": pd.array([30, pd.NA, 41], dtype="Int64"), "b": [True, False, False]})
    assert gq.exact_copy_share(read, sampled) == pytest.approx(2 / 3)


def test_samples_keep_the_decimals_of_the_data_and_dates_read_as_dates(tmp_path):
    from ganforge.tabular.gan import describe_columns
    from ganforge.tabular.schema import decimal_places

    assert decimal_places(np.array([1.5, 2.25, 3.0])) == 2 and decimal_places(np.array([1.0, 20.0])) == 0
    assert decimal_places(np.array([np.pi])) is None  # more than 6 decimals: kept as computed
    frame = mixed_table(300)
    frame["price"] = np.round(np.random.default_rng(0).uniform(1, 100, len(frame)), 2)
    model = TableGAN(**FAST).fit(frame)
    prices = model.sample(200, seed=0)["price"].dropna().to_numpy()
    assert np.allclose(prices, np.round(prices, 2), rtol=0, atol=1e-9)  # was ~10 decimals
    assert model.sample(200, seed=0)["income"].dropna().round(6).ne(
        model.sample(200, seed=0)["income"].dropna()).any()  # a column of full-precision numbers stays so
    lines = describe_columns(model)
    assert any(line.startswith("seen: datetime (range 2021-01-01T") for line in lines), lines
