"""Configuration: TOML files, overrides, and rejection of unknown keys and bad values by name."""

import pytest

from ganforge.config import TrainConfig, build_config, load_toml
from ganforge.errors import GanforgeError


def test_toml_then_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('data = "ring"\nsteps = 500\nbetas-g = [0.0, 0.99]\n[extra]\nnote = "x"\n')
    config = build_config(load_toml(path), source=str(path))
    config = build_config({"steps": "800"}, base=config).validate()
    assert (config.data, config.steps, config.betas_g, config.extra) == ("ring", 800, (0.0, 0.99), {"note": "x"})


def test_train_table_is_accepted(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[train]\ndata = "digits"\nimage_size = 16\n')
    assert build_config(load_toml(path)).image_size == 16


def test_unknown_keys_are_named(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('data = "ring"\nlearning_rate = 0.1\nstep = 3\n')
    with pytest.raises(GanforgeError, match=r"unknown options in .*run.toml: learning_rate, step"):
        build_config(load_toml(path), source=str(path))


@pytest.mark.parametrize(("values", "message"), [
    ({"steps": "many"}, "--steps expects a whole number, got 'many'"),
    ({"steps": 2.5}, "--steps expects a whole number"),
    ({"lr_g": "fast"}, "--lr-g expects a number"),
    ({"lr_d": -1.0}, "--lr-d must be a positive number"),
    ({"batch_size": 0}, "--batch-size must be positive"),
    ({"latent": "gaussian"}, "--latent must be one of normal, uniform"),
    ({"device": "tpu"}, "--device must be one of auto, cpu, cuda"),
    ({"channels": 4}, "--channels must be 1 or 3"),
    ({"betas_d": [0.5, 1.5]}, r"--betas-d must be two numbers in \[0, 1\)"),
    ({"betas_d": [0.5]}, "--betas-d expects 2 numbers"),
    ({"batch_norm": "maybe"}, "--batch-norm expects true or false"),
])
def test_bad_values_are_named(values, message):
    with pytest.raises(GanforgeError, match=message):
        build_config(values).validate()


def test_invalid_toml_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("steps = = 3")
    with pytest.raises(GanforgeError, match="bad.toml is not valid TOML"):
        load_toml(path)
    with pytest.raises(GanforgeError, match="does not exist"):
        load_toml(tmp_path / "absent.toml")


def test_json_view_round_trips():
    config = TrainConfig(data="ring", betas_g=(0.1, 0.2))
    assert build_config(config.to_json()) == config
