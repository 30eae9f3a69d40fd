"""Images and vectors as a run kind: train and resume a `SampleTask` in the shared loop into a run folder, and the
`sample`, `eval` and `interpolate` commands on such a run (its generator: `kinds.generator`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ganforge.config import RESUMABLE, TrainConfig, build_config
from ganforge.data import Dataset, absolute_data, load_dataset, warn_if_few
from ganforge.data.base import IMAGE, SEQUENCE
from ganforge.data.sequences import series_options
from ganforge.errors import GanforgeError
from ganforge.kinds.base import RunKind, refuse_changes, start_record
from ganforge.kinds.generator import TrainedGenerator, evaluate, load, real_data_for
from ganforge.report.sinks import RunSinks
from ganforge.training import checkpoint as ckpt
from ganforge.training.distributed import SINGLE, Processes, run_as_processes
from ganforge.training.hardware import pick_device
from ganforge.training.loop import LoopOutput, LoopSettings, TrainingLoop, TrainResult
from ganforge.training.run_folder import RunFolder, default_run_path, write_failures_explained
from ganforge.training.trainer import SampleTask

log = logging.getLogger("ganforge")


class Trainer:
    """Trains one GAN on one dataset of images or vectors into one run folder: a `SampleTask` in the shared loop."""

    def __init__(self, config: TrainConfig, dataset: Dataset, run: RunFolder, progress: bool = True,
                 processes: Processes = SINGLE):
        self.run = run
        self.task = SampleTask(config, dataset, run, processes)
        settings = LoopSettings(config.steps, config.log_every, config.sample_every, config.checkpoint_every,
                                config.keep_checkpoints, config.eval_every, config.lr_schedule, config.on_divergence,
                                config.diagnose, config.loss, self.task.loss.probabilistic,
                                samples={IMAGE: "images", SEQUENCE: "series"}.get(dataset.kind, "samples"))
        if processes.main:
            self.task.sinks = sinks = RunSinks(run.path, config.tensorboard)
            output = LoopOutput.for_run(run)
            output.metrics = lambda record: (run.append_metrics(record), sinks.metrics(record))
        else:  # the other ranks read checkpoints (to resume, to roll back) and write nothing
            output = LoopOutput(checkpoints=run.checkpoints)
        self.loop = TrainingLoop(self.task, settings, output, progress and processes.main, self.task.threads,
                                 self.task.core_share)

    @property
    def step(self) -> int:
        """Steps done."""
        return self.loop.step

    def fit(self) -> TrainResult:
        """Train to `config.steps`; Ctrl-C saves and returns with `interrupted=True`."""
        return self.loop.fit(self.run.path)


class TensorRuns(RunKind):
    """Runs on fixed-shape samples: image folders, array files and the built-in sets."""

    name = "tensor"
    multi_process = True

    def claims(self, data: str, options: dict[str, Any]) -> bool:
        return True  # whatever no other kind claims

    def train(self, config: TrainConfig, given: set[str], progress: bool) -> TrainResult:
        return _train(config, None, progress, given)

    def resume(self, run: RunFolder, overrides: dict[str, Any], progress: bool) -> TrainResult:
        return _train(self._resumed_config(run, overrides), run, progress)

    def check_resume(self, run: RunFolder, overrides: dict[str, Any]) -> None:
        self._resumed_config(run, overrides)

    @staticmethod
    def _resumed_config(run: RunFolder, overrides: dict[str, Any]) -> TrainConfig:
        if "data" in overrides:
            overrides = {**overrides, "data": absolute_data(overrides["data"])}
        return resume_config(run, overrides)

    def report(self, result: TrainResult, command: str = "ganforge") -> list[str]:
        run = result.run_dir
        if result.interrupted:
            return [f"interrupted at step {result.step}; checkpoint saved. Continue with: {command} train --resume "
                    f"{run} (add --steps N for a new total)"]
        return [f"trained to step {result.step}. Run folder: {run}", f"  report:       {run / 'report.html'}",
                f"  samples:      {run / 'samples'}",
                f"  metrics:      {run / 'metrics.jsonl'}", f"  checkpoints:  {run / 'checkpoints'}",
                f"  more samples: {command} sample {run} --n 64 --out grid.png",
                f"  measure it:   {command} eval {run}"]

    def sample(self, args: argparse.Namespace) -> int:
        if args.where:
            raise GanforgeError("--where applies to table runs (trained on a .csv, .tsv or .parquet file) and to "
                                "series with attributes (--static-columns)")
        generator = load(args.run, checkpoint=args.checkpoint, device=args.device)
        if args.label == "all":
            return _sample_every_class(args, generator)
        n = 64 if args.n is None else args.n
        samples = generator.sample(n, seed=args.seed, batch_size=args.batch_size, progress=not args.quiet,
                                   label=args.label, truncation=args.truncation,
                                   truncation_mode=args.truncation_mode)
        reference = None
        if generator.kind in ("vector", "sequence") and Path(args.out).suffix.lower() in {".png", ".jpg", ".jpeg"}:
            reference = _real_vectors(args.run, n)
        path = generator.save(samples, args.out, reference)
        of_class = f" of class {generator.class_names[generator.class_index(args.label)]}" if args.label else ""
        print(f"wrote {n} samples{of_class} from step {generator.step} to {path}")
        return 0

    def evaluate(self, args: argparse.Namespace) -> int:
        if args.target:
            raise GanforgeError("--target applies to table runs")
        report = evaluate(args.run, real=args.real, n=args.n_given or 10_000, metrics=args.metrics,
                          features=args.features, inception_weights=args.inception_weights,
                          checkpoint=args.checkpoint, device=args.device, seed=args.seed, progress=not args.quiet,
                          repeats=args.repeats)
        print(f"{args.run} at step {report['step']}: {report['n_fake']} generated vs {report['n_real']} real "
              f"({report['real']}), {report['features']} features, {report['seconds']} s")
        skip = {"step", "checkpoint", "real", "features", "n_real", "n_fake", "seconds"}
        per_class = {k: v for k, v in report.items() if isinstance(v, dict)}
        for key, value in report.items():
            if key not in skip and key not in per_class:
                print(f"  {key:<14} {value:.6g}" if isinstance(value, float) else f"  {key:<14} {value}")
        classes = list(dict.fromkeys(name for values in per_class.values() for name in values))
        if classes:
            print("  per class      " + "  ".join(f"{key:>18}" for key in per_class))
            for name in classes:
                cells = "  ".join(f"{per_class[key].get(name, float('nan')):>18.4g}" for key in per_class)
                print(f"    {name[:12]:<12} {cells}")
        print(f"written to {args.run}/eval.json")
        return 0

    def project(self, args: argparse.Namespace) -> int:
        return _project(args)

    def interpolate(self, args: argparse.Namespace) -> int:
        if args.from_image or args.to_image:
            return _morph(args)
        generator = load(args.run, checkpoint=args.checkpoint, device=args.device)
        if args.start is not None and args.label is not None:
            raise GanforgeError("option --class walks within one class; --from/--to walk between two: give one of them")
        samples = generator.interpolate(args.frames, rows=args.rows, seed=args.seed, start=args.start, end=args.end,
                                        label=args.label, truncation=args.truncation,
                                        truncation_mode=args.truncation_mode)
        path = generator.save(samples, args.out, columns=args.frames if generator.kind == "image" else None)
        what = f"from class {args.start} to class {args.end}" if args.start is not None else "between noise vectors"
        print(f"wrote {args.rows} walks {what} in {args.frames} frames from step {generator.step} to {path}")
        return 0


def _project(args: argparse.Namespace) -> int:
    """`ganforge project RUN PHOTO... --out latent.npz`: the latents, and photo | reconstruction strips beside."""
    import numpy as np
    import torch

    from ganforge.data.export import save_samples
    from ganforge.kinds.projection import project, read_photos

    out = Path(args.out)
    if out.suffix.lower() != ".npz":
        raise GanforgeError(f"--out {out}: give a .npz file name for the latents")
    generator = load(args.run, checkpoint=args.checkpoint, device=args.device)
    photos = read_photos([Path(p) for p in args.photos], generator)
    found = project(generator, photos, steps=args.steps, seed=args.seed, label=args.label, progress=not args.quiet)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, latents=found.latents.numpy(), mse=np.array(found.mse), psnr=np.array(found.psnr),
             photos=np.array([str(p) for p in args.photos]))
    strips = torch.stack([photos, found.images], 1).flatten(0, 1)  # photo, reconstruction, photo, ...
    picture = save_samples(strips, "image", out.with_suffix(".png"), columns=2)
    for photo, psnr in zip(args.photos, found.psnr, strict=True):
        print(f"  {photo}: PSNR {psnr:.2f} dB")
    print(f"wrote {len(photos)} latent{'s' if len(photos) > 1 else ''} to {out} and photo | reconstruction to "
          f"{picture}")
    return 0


def _class_edit(args: argparse.Namespace) -> int:
    """`ganforge interpolate RUN --from-image photo.png --from 3 --to 8`: the photo projected as its class (--from),
    then its latent held while the class embedding moves to --to, in one row after the photo."""
    import torch

    from ganforge.kinds.projection import class_walk, project, read_photos

    generator = load(args.run, checkpoint=args.checkpoint, device=args.device)
    if not generator.conditional:
        raise GanforgeError("--from-image with --from/--to edits a photo's class, which needs a class-conditional "
                            "run; this one is not (walk between two photos with --to-image)")
    if args.start is None:
        raise GanforgeError("option --from CLASS: the photo's own class, which projecting it needs")
    photo = read_photos([Path(args.from_image)], generator)
    found = project(generator, photo, seed=args.seed, label=args.start, progress=not args.quiet)
    frames = class_walk(generator, found.latents[0], args.start, args.end, args.frames)
    path = generator.save(torch.cat([photo, frames]), args.out, columns=args.frames + 1)
    print(f"wrote {args.from_image} (projected as class {args.start}: PSNR {found.psnr[0]:.1f} dB) moved to class "
          f"{args.end} in {args.frames} frames, after the photo, to {path}")
    return 0


def _morph(args: argparse.Namespace) -> int:
    """`ganforge interpolate RUN --from-image a.jpg --to-image b.jpg`: both photos projected, then the latent path
    between them, in one row with the photos at its ends."""
    import torch

    from ganforge.kinds.projection import morph, project, read_photos

    if args.from_image and not args.to_image and args.end is not None:
        return _class_edit(args)
    if not (args.from_image and args.to_image):
        raise GanforgeError("options --from-image and --to-image go together: the two photos to walk between (or "
                            "--from-image with --from CLASS --to CLASS: the photo's class edited)")
    if args.start is not None or args.end is not None:
        raise GanforgeError("options --from/--to (classes) and --from-image/--to-image (photos) are two walks; give "
                            "one of them")
    generator = load(args.run, checkpoint=args.checkpoint, device=args.device)
    photos = read_photos([Path(args.from_image), Path(args.to_image)], generator)
    found = project(generator, photos, seed=args.seed, label=args.label, progress=not args.quiet)
    frames = morph(generator, found.latents[0], found.latents[1], args.frames)
    row = torch.cat([photos[:1], frames, photos[1:]])
    path = generator.save(row, args.out, columns=len(row))
    print(f"wrote a walk of {args.frames} frames from {args.from_image} to {args.to_image} (projected: PSNR "
          f"{found.psnr[0]:.1f} and {found.psnr[1]:.1f} dB), with the photos at its ends, to {path}")
    return 0


def _train(cfg: TrainConfig, run: RunFolder | None, progress: bool, given: set[str] | None = None) -> TrainResult:
    """Train a new run (`run` None; `given`: the options the user chose) or continue `run`, holding its folder
    locked; under torchrun, as one of its processes (see `training.distributed`)."""
    return run_as_processes(pick_device(cfg.device),
                            lambda processes: _train_as(processes, cfg, run, progress and processes.main, given))


def _train_as(processes: Processes, cfg: TrainConfig, run: RunFolder | None, progress: bool,
              given: set[str] | None) -> TrainResult:
    dataset = load_dataset(cfg.data, cfg.image_size, cfg.channels, cfg.workers, cfg.cache_gb, progress=progress,
                           labels=cfg.labels != "none", series=series_options(cfg.to_json()))
    cfg.conditional = resolve_conditional(cfg.conditional, dataset)
    resume = run is not None
    if processes.main and not resume:
        warn_if_few(dataset)
    if run is None:
        # rank 0 picks the folder (runs/NAME-2 when runs/NAME is taken) and the other ranks take its word
        path = processes.share(str(RunFolder.new(cfg.out or default_run_path(dataset.name)).path)
                               if processes.main else None)
        run = RunFolder(path)
        cfg.out = str(run.path)
    else:
        _check_same_data(run, dataset)
    if not processes.main:  # rank 0 holds the lock and writes config.json
        processes.barrier()
        trainer = Trainer(cfg, dataset, run, progress=False, processes=processes)
        _restore(trainer, run, cfg, resume)
        return trainer.fit()
    start = None if resume else start_record("sequence" if dataset.kind == "sequence" else TensorRuns.name, cfg,
                                             given)
    with write_failures_explained(run.path), run.lock(new=not resume, start=start):
        processes.barrier()
        trainer = Trainer(cfg, dataset, run, progress=progress, processes=processes)
        _restore(trainer, run, cfg, resume)
        run.write_config(trainer.task.describe())
        return trainer.fit()


def _restore(trainer: Trainer, run: RunFolder, cfg: TrainConfig, resume: bool) -> None:
    """Continue a resumed run from its newest checkpoint (rank 0 alone rewrites the run's logs)."""
    if not resume:
        return
    found = ckpt.find_checkpoint(run.path)
    if found is not None:
        trainer.loop.restore(found)
        log.info("resuming %s from its checkpoint at step %s", run.path, f"{trainer.step:,}")
    elif trainer.task.processes.main:  # killed before its first checkpoint: the same seed replays the run
        run.truncate_metrics(0)
        run.truncate_diagnoses(0)
    if cfg.steps <= trainer.step:
        raise GanforgeError(f"run {run.path} is already at step {trainer.step:,}; --steps is the new total, "
                            f"so give more than {trainer.step} to continue it")


def resume_config(run: RunFolder, overrides: dict[str, Any]) -> TrainConfig:
    """The stored configuration of `run` with the allowed `overrides` applied (others must not change)."""
    # runs from before conditional GANs were unconditional, whatever their data's folders say now, and runs from
    # before adaptive augmentation had none
    stored = build_config({"conditional": False, "labels": "none", "augment_p": "off", **run.read_config()["config"]},
                          source=str(run.config_path))
    refuse_changes(run, overrides, RESUMABLE, lambda key: getattr(stored, key),
                   lambda key, value: getattr(build_config({key: value}, base=stored), key),
                   "start a new run with --out instead")
    changes = {k: v for k, v in overrides.items() if k.replace("-", "_") != "out"}
    return build_config(changes, base=stored, source="options").validate()


def _check_same_data(run: RunFolder, dataset: Dataset) -> None:
    """A resumed run may read its data from a new place, but it must be the data it was trained on."""
    config = run.read_config()
    stored, conditional = config["data"], config["model"].get("conditional")
    found = {"size": len(dataset), **dataset.codec.to_json()}
    if conditional:  # the same class names, and as many images in each (moved images change the counts)
        found["classes"] = dataset.class_names
        found["class_counts"] = dataset.class_counts()
    if any(stored.get(key) != value for key, value in found.items()):
        raise GanforgeError(f"data {dataset.name} is not the data run {run.path} was trained on (its size, shape or "
                            f"statistics{' or classes' if conditional else ''} differ: {len(dataset)} × "
                            f"{list(dataset.codec.shape)} vs {stored.get('size')} × {stored.get('shape')}); start a "
                            "new run to train on other data")


def _sample_every_class(args: argparse.Namespace, generator: TrainedGenerator) -> int:
    """`--class all`: `--n` samples of each class, as a grid with one class per row or one subfolder per class."""
    import torch

    names = generator.class_names or []
    if not names:
        generator.class_index("all")  # raises: the run takes no class
    per_class = 8 if args.n is None else args.n
    labels = torch.arange(len(names)).repeat_interleave(per_class)
    samples = generator.sample(len(labels), seed=args.seed, batch_size=args.batch_size, progress=not args.quiet,
                               label=labels, truncation=args.truncation, truncation_mode=args.truncation_mode)
    out = Path(args.out)
    if out.suffix == "" and generator.kind == "image":
        from ganforge.data.export import save_image_folder

        if out.is_dir() and any(out.iterdir()):
            raise GanforgeError(f"output folder {out} is not empty; give a new folder name for the PNG files")
        folders = [_safe_name(name) for name in names]
        clash = next((f for f in folders if folders.count(f) > 1), None)
        if clash is not None:
            raise GanforgeError(f"two class names become the same folder name {clash!r} in {out}; write a grid "
                                "(--out each.png) instead")
        for index, folder in enumerate(folders):  # the layout a labelled image folder has: ready to train on
            save_image_folder(samples[index * per_class : (index + 1) * per_class], out / folder)
        print(f"wrote {per_class} samples of each of {len(names)} classes from step {generator.step} to {out}/CLASS/")
        return 0
    path = generator.save(samples, out, columns=per_class if generator.kind == "image" else None)
    print(f"wrote {per_class} samples of each of {len(names)} classes (one per row) from step {generator.step} "
          f"to {path}")
    return 0


def _safe_name(name: str) -> str:
    """A class name as a folder name (path separators and leading dots replaced)."""
    cleaned = "".join("_" if c in '/\\:*?"<>|' else c for c in name).lstrip(".")
    return cleaned or "_"


def _real_vectors(run_dir: str, n: int) -> Any:
    """Up to `n` training vectors in the user's units, drawn behind a scatter plot; None if the data is gone."""
    try:
        dataset = real_data_for(RunFolder.open(run_dir))
    except GanforgeError:
        return None
    return dataset.real_samples(max(n, 1000))


def resolve_conditional(conditional: bool | None, dataset: Dataset) -> bool:
    """Whether the run is class-conditional: as asked, or (auto) when a folder or array file brought labels."""
    if conditional is None:
        conditional = dataset.labels is not None and "labels_from" in dataset.info
    if conditional and dataset.labels is None:
        raise GanforgeError(f"option --conditional needs labelled data, and {dataset.name} has no labels (image "
                            "folders: one subfolder per class; .npz files: a `y` array; built-ins: digits, shapes, "
                            "stacked-digits)")
    if conditional:
        counts, names = dataset.class_counts(), dataset.class_names
        log.info("class-conditional on %d classes%s: %s", len(names),
                 f" (from {dataset.info['labels_from']})" if "labels_from" in dataset.info else "",
                 ", ".join(f"{n} ({c})" for n, c in zip(names[:8], counts[:8], strict=True))
                 + (", …" if len(names) > 8 else ""))
    return bool(conditional)
