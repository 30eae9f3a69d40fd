"""The Python API: `train` a GAN into a run folder, `load` its generator back, `sample` from it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ganforge.config import TrainConfig, build_config
from ganforge.data import BUILTIN, Codec, Dataset, load_dataset
from ganforge.data.export import save_samples
from ganforge.errors import GanforgeError
from ganforge.models import build_models, sample_latent
from ganforge.presets import preset_options
from ganforge.training import checkpoint as ckpt
from ganforge.training.hardware import pick_device
from ganforge.training.run_folder import RunFolder, default_run_path, write_failures_explained
from ganforge.training.trainer import Trainer, TrainResult

log = logging.getLogger("ganforge")
# Options that may change when a run is resumed: they do not alter what is being learnt.
RESUMABLE = {"steps", "data", "device", "threads", "workers", "cache_gb", "log_every", "sample_every",
             "checkpoint_every", "keep_checkpoints", "out", "eval_every", "eval_n", "eval_metrics", "eval_features",
             "inception_weights", "best_metric", "diagnose", "on_divergence"}
# (lr_schedule is not resumable: with --steps as the horizon, a new total would change the schedule's shape)


def resume_config(run: RunFolder, overrides: dict[str, Any]) -> TrainConfig:
    """The stored configuration of `run` with the allowed `overrides` applied (others must not change)."""
    stored = build_config(run.read_config()["config"], source=str(run.config_path))
    for key, value in overrides.items():
        key = key.replace("-", "_")
        if key == "out" and value is not None and Path(value).resolve() != run.path.resolve():
            raise GanforgeError(f"--out {value} differs from the run being resumed ({run.path}); a resumed run "
                                "continues in its own folder (drop --out, or start a new run without --resume)")
        if key in RESUMABLE:
            continue
        if getattr(build_config({key: value}, base=stored), key) != getattr(stored, key):
            raise GanforgeError(
                f"option --{key.replace('_', '-')} cannot change when resuming {run.path} "
                f"(it was {getattr(stored, key)!r}); start a new run with --out instead"
            )
    changes = {k: v for k, v in overrides.items() if k.replace("-", "_") != "out"}
    return build_config(changes, base=stored, source="options").validate()


def _absolute_data(spec: str | None) -> str | None:
    """A data path made absolute, so that the run can be resumed and evaluated from any directory."""
    if spec and spec not in BUILTIN and Path(spec).expanduser().exists():
        return str(Path(spec).expanduser().resolve())
    return spec


def _check_same_data(run: RunFolder, dataset: Dataset) -> None:
    """A resumed run may read its data from a new place, but it must be the data it was trained on."""
    stored = run.read_config()["data"]
    found = {"size": len(dataset), **dataset.codec.to_json()}
    if any(stored.get(key) != value for key, value in found.items()):
        raise GanforgeError(f"data {dataset.name} is not the data run {run.path} was trained on (its size, shape or "
                            f"statistics differ: {len(dataset)} × {list(dataset.codec.shape)} vs {stored.get('size')} "
                            f"× {stored.get('shape')}); start a new run to train on other data")


def train(data: str | None = None, *, resume: str | Path | None = None, progress: bool = True,
          config: dict[str, Any] | None = None, **options: Any) -> TrainResult:
    """Train a GAN and return where its run folder is.

    `data` is a built-in name (`ganforge datasets`), a folder of images or an `.npy`/`.npz` file; `options` are the
    `ganforge train` flags with underscores (`steps=2000`, `model="mlp"`, `out="runs/r"`), applied over `config`
    (values from a TOML file), applied over the `preset` named in either. `resume` continues an earlier run
    exactly where it stopped, to the new `steps`.
    """
    if resume is not None:
        run = RunFolder.open(resume)
        if run.read_config().get("kind") == "table":
            from ganforge.tabular.run import resume_table

            return resume_table(run, {**options, **({"data": data} if data is not None else {})}, progress=progress)
        if data is not None:
            options = {**options, "data": data}
        if "data" in options:
            options["data"] = _absolute_data(options["data"])
        cfg = resume_config(run, options)
    else:
        values = {**(config or {}), **options}
        if data is not None:
            values["data"] = data
        given = set(values)  # what the user chose; tables take their own defaults for the rest
        preset = values.get("preset")
        if preset:
            values = {**preset_options(preset), **values}
        cfg = build_config(values, source="options").validate()
        cfg.data = _absolute_data(cfg.data)
        from ganforge.tabular.run import is_table_path, train_table

        if is_table_path(cfg.data):
            return train_table(cfg, progress=progress, given=given)
    dataset = load_dataset(cfg.data, cfg.image_size, cfg.channels, cfg.workers, cfg.cache_gb, progress=progress)
    if resume is None:
        run = RunFolder.new(cfg.out or default_run_path(dataset.name))
        cfg.out = str(run.path)
    else:
        _check_same_data(run, dataset)
    with run.lock(new=resume is None), write_failures_explained(run.path):
        trainer = Trainer(cfg, dataset, run, progress=progress)
        if resume is not None:
            found = ckpt.find_checkpoint(run.path)
            if found is not None:
                trainer.restore(found)
                log.info("resuming %s from its checkpoint at step %s", run.path, f"{trainer.step:,}")
            else:  # killed before its first checkpoint: the same seed replays the same run from step 0
                run.truncate_metrics(0)
            run.truncate_diagnoses(trainer.step)
            if cfg.steps <= trainer.step:
                raise GanforgeError(f"run {run.path} is already at step {trainer.step:,}; --steps is the new total, "
                                    f"so give more than {trainer.step} to continue it")
        run.write_config(trainer.describe())
        return trainer.fit()


class TrainedGenerator:
    """A trained generator with everything needed to produce data in the user's form."""

    def __init__(self, generator: torch.nn.Module, codec: Codec, latent: str, latent_dim: int,
                 device: torch.device, source: Path, step: int):
        self.generator, self.codec = generator.eval(), codec
        self.latent, self.latent_dim, self.device = latent, latent_dim, device
        self.source, self.step = source, step

    @property
    def kind(self) -> str:
        """`image` or `vector`."""
        return self.codec.kind

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, batch_size: int = 256, progress: bool = False) -> Tensor:
        """`n` samples in the user's form (images in [0, 1] as (N, C, H, W); vectors in original units).

        The same seed gives the same samples, whatever `batch_size` is (batch norm runs in eval mode).
        """
        if n < 1:
            raise GanforgeError(f"option --n must be at least 1, got {n}")
        rng = torch.Generator().manual_seed(seed) if seed is not None else None
        z = sample_latent(self.latent, n, self.latent_dim, rng)
        parts = []
        quiet = not progress or n <= batch_size
        for start in tqdm(range(0, n, batch_size), desc="sampling", unit="batch", disable=quiet, leave=False):
            parts.append(self.codec.decode(self.generator(z[start : start + batch_size].to(self.device))).cpu())
        return torch.cat(parts)

    def save(self, samples: Tensor, out: str | Path, reference: Tensor | None = None) -> Path:
        """Write samples (from `sample`; a tensor or an array) as a grid/scatter PNG, a folder of PNGs, `.npy` or
        `.csv`; a scatter plot of vectors shows `reference` (real data) behind them when given."""
        return save_samples(torch.as_tensor(samples), self.kind, out, reference)


def load(run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "auto") -> TrainedGenerator:
    """The generator of a run (its latest complete checkpoint unless `checkpoint` names one)."""
    run = RunFolder.open(run_dir)
    stored = run.read_config()
    try:
        codec = Codec.from_json(stored["data"])
        model = stored["model"]
        latent = stored["config"]["latent"]
    except (KeyError, TypeError) as error:
        raise GanforgeError(f"{run.config_path} is missing {error}; it was not written by ganforge") from None
    if checkpoint is None:
        path = run.latest_checkpoint()
    elif str(checkpoint) == "best":
        path = run.checkpoints / "best"
        if not path.is_dir():
            raise GanforgeError(f"run {run.path} has no best checkpoint (train with --eval-every to keep one)")
    else:
        path = Path(checkpoint)
        if not path.is_dir() and (run.checkpoints / path).is_dir():  # a name such as step_000300
            path = run.checkpoints / path
    tensors, _, state = ckpt.load_checkpoint(path)
    generator, _ = build_models(model["name"], codec.shape, model["options"])
    name = "generator_ema" if any(k.startswith("generator_ema.") for k in tensors) else "generator"
    ckpt.load_module_tensors({name: generator}, tensors, path)
    target = pick_device(device)
    return TrainedGenerator(generator.to(target), codec, latent, model["options"]["latent_dim"], target, path,
                            int(state["step"]))


def real_data_for(run: RunFolder, real: str | None = None) -> Dataset:
    """The run's training data (or `real`), at the size and channel count the run's generator makes."""
    stored = run.read_config()
    config, codec = stored["config"], Codec.from_json(stored["data"])
    size = channels = None
    if codec.kind == "image":
        channels, size = codec.shape[0], codec.shape[1]
    dataset = load_dataset(real or config["data"], size, channels, config.get("workers", -1),
                           config.get("cache_gb", 4.0))
    if dataset.sample_shape != codec.shape:
        raise GanforgeError(f"--real {real} has samples of shape {list(dataset.sample_shape)}; the run's generator "
                            f"makes {list(codec.shape)}")
    return dataset


def evaluate(run_dir: str | Path, real: str | None = None, n: int = 10_000, metrics: str | list[str] | None = None,
             features: str | None = None, inception_weights: str | None = None,
             checkpoint: str | Path | None = None, device: str = "auto", seed: int = 0,
             progress: bool = True) -> dict[str, Any]:
    """Measure a run's generator against real data and write `eval.json` in the run folder.

    Metrics default to fd, kid, pr, dc (+ is with class logits, + modes where defined); features default to raw for
    vectors, digits for the digit sets and inception for other images.
    """
    from ganforge.metrics.evaluate import evaluate as run_metrics
    from ganforge.metrics.evaluate import parse_metrics

    if n < 2:
        raise GanforgeError(f"option --n must be at least 2, got {n}")
    run = RunFolder.open(run_dir)
    generator = load(run_dir, checkpoint=checkpoint, device=device)
    dataset = real_data_for(run, real)
    results = run_metrics(lambda count, s: generator.sample(count, seed=s + 1, progress=progress), dataset, n=n,
                          metrics=parse_metrics(metrics), features=features, inception_weights=inception_weights,
                          device=generator.device, seed=seed, progress=progress, announce=True)
    report = {"step": generator.step, "checkpoint": str(generator.source), "real": dataset.name, **results}
    ckpt.write_json(run.path / "eval.json", report)
    return report
