"""Scores of an image-to-image run (`ganforge eval` on a pairs run): pix2pix's outputs against their targets, CycleGAN's
cycle error and translations against domain B, and super-resolution on Set5-style folders, into RUN/eval.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ganforge.config import TrainConfig
from ganforge.data.images import to_tensor
from ganforge.data.pairs import read_pairs, read_unpaired
from ganforge.data.superres import evaluation_pairs, upscaled
from ganforge.errors import GanforgeError
from ganforge.kinds.pairs import averaged, build_generator, checkpoint_folder, load_translator, upscale
from ganforge.metrics import METRICS
from ganforge.training import checkpoint as ckpt
from ganforge.training.translation import to_model

log = logging.getLogger("ganforge")

# What `ganforge eval --metrics` can ask of each model (default: all of them).
PAIR_METRICS = {"pix2pix": ("l1", "psnr", "ssim", "fd", "kid"), "cyclegan": ("cycle", "fd", "kid"),
                "srresnet": ("psnr", "ssim", "niqe", "fd", "kid")}
# the values each metric writes: the registry's (metrics.pairs), and FD's and KID's with bicubic's beside
PAIR_VALUES = {**{name: tuple(METRICS[name].values) for name in ("l1", "psnr", "ssim", "niqe", "cycle")},
               "fd": ("fd", "bicubic_fd", "fd_items"), "kid": ("kid", "kid_std", "bicubic_kid", "bicubic_kid_std")}
VALUE_METRIC = {value: metric for metric, values in PAIR_VALUES.items() for value in values}


def evaluate_pairs(run_dir: Path, real: Path | None = None, metrics: list[str] | None = None,
                   inception_weights: str | None = None, checkpoint: str | None = None) -> dict[str, Any]:
    """The run's scores (`metrics.pairs`) on the pairs in `real` (made by the run's task; default: its training
    pairs), written to RUN/eval.json: for pix2pix L1, PSNR and SSIM on Y against the targets and FD and KID against
    them as a set; for CycleGAN the cycle error and FD/KID of G(A) against domain B; for super-resolution the SR
    protocol and FD/KID on crops, bicubic beside. `metrics` picks some (default: all; FD and KID are left out with a
    warning where no Inception weights are found, unless asked for). `checkpoint`: `best` or a checkpoint folder
    (default: the newest)."""
    found = checkpoint_folder(run_dir, checkpoint)
    generator, described = load_translator(run_dir, found)
    source = real or Path(described["config"]["data"])
    model = described["model"]["name"]
    wanted = _wanted_metrics(model, metrics)
    inception = _inception(wanted, explicit=metrics is not None, weights=inception_weights)
    back = None
    if model == "cyclegan":
        from safetensors.torch import load_file

        weights = load_file(str(found / ckpt.MODELS_FILE))
        back = build_generator(described, weights, averaged("generator_ba", weights))
    report = measure(model, generator, back, described, source, wanted, inception)
    report = {"step": int(ckpt.read_checkpoint_state(found)["step"]), "real": str(source),
              "held_out": real is not None, **report}
    ckpt.atomic_write_text(run_dir / "eval.json", json.dumps(report, indent=2))
    return report


def measure(model: str, generator: torch.nn.Module, back: torch.nn.Module | None, described: dict[str, Any],
            source: Path, wanted: set[str], inception: torch.nn.Module | None) -> dict[str, Any]:
    """The `wanted` scores of a translator (and, for CycleGAN, its way `back`) on the images of `source`."""
    if model == "cyclegan":
        return _evaluate_cycle(generator, back, described, source, wanted, inception)
    if model == "srresnet":
        return _evaluate_sr(generator, described, source, wanted, inception)
    return _evaluate_pix2pix(generator, described, source, wanted, inception)


class TrainingEvaluation:
    """`--eval-every` for an image-to-image run: the scores of the task's translator (its average where it keeps
    one) on `--eval-real`, and the value `--best-metric` ranks checkpoints by."""

    def __init__(self, config: TrainConfig, model: str, described: dict[str, Any]):
        from ganforge.metrics import better_direction
        from ganforge.metrics.evaluate import parse_metrics

        self.model, self.described = model, described
        self.source = Path(config.eval_real) if config.eval_real else Path(config.data)
        if not config.eval_real:
            log.warning("--eval-every measures the training images (give --eval-real FOLDER for held-out ones, "
                        "which can choose a checkpoint)")
        elif not self.source.exists():
            raise GanforgeError(f"option --eval-real {self.source}: no such folder")
        named = parse_metrics(config.eval_metrics) if config.eval_metrics else None
        self.wanted = _wanted_metrics(model, named)
        if named is None:
            self.wanted -= {"niqe", "kid"}  # the slow and the redundant, unless asked for
        # forked: building the network draws initial weights from the global RNG, which training's dropout uses
        with torch.random.fork_rng():
            self.inception = _inception(self.wanted, explicit=named is not None, weights=config.inception_weights)
        if self.inception is None:
            self.wanted -= {"fd", "kid"}
        if config.best_metric == "auto":  # the first of these that is measured
            order = {"srresnet": ["psnr", "fd", "ssim", "niqe", "kid"], "cyclegan": ["fd", "cycle", "kid"]}.get(
                model, ["fd", "l1", "psnr", "ssim", "kid"])
            first = next(metric for metric in order if metric in self.wanted)
            self.best_metric = next(value for value in PAIR_VALUES[first] if not value.startswith(("bicubic_",
                                                                                                   "high_")))
        else:
            better_direction(config.best_metric)
            self.best_metric = config.best_metric
        if VALUE_METRIC.get(self.best_metric) not in self.wanted:
            raise GanforgeError(f"option --best-metric {self.best_metric} is not measured while training this "
                                f"{model} run (it measures {', '.join(sorted(self.wanted))})")

    def __call__(self, translator: torch.nn.Module, back: torch.nn.Module | None) -> dict[str, Any]:
        scores = measure(self.model, translator, back, self.described, self.source, self.wanted, self.inception)
        scores.pop("per_image", None)
        return {key: value for key, value in scores.items() if not isinstance(value, str)}


def _wanted_metrics(model: str, metrics: list[str] | None) -> set[str]:
    offered = PAIR_METRICS[model]
    if metrics is None:
        return set(offered)
    for name in metrics:
        if name not in offered:
            raise GanforgeError(f"--metrics {name}: a {model} run is measured by some of {','.join(offered)}")
    return set(metrics)


def _inception(wanted: set[str], explicit: bool, weights: str | None) -> torch.nn.Module | None:
    """The FID Inception for FD and KID, or None where they are not wanted or (unasked for) its weights are absent."""
    if not wanted & {"fd", "kid"}:
        return None
    from ganforge.features.inception import load_inception

    try:
        return load_inception(weights)
    except GanforgeError as error:
        if explicit:
            raise
        log.warning("FD and KID left out: %s", error)
        return None


def _picked(scores: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    """`scores` less the values of metrics not wanted (keys no metric owns, such as `pairs`, stay)."""
    return {key: value for key, value in scores.items()
            if key not in VALUE_METRIC or VALUE_METRIC[key] in wanted}


def _distributions(inception: torch.nn.Module | None, outputs: Any, targets: Any, wanted: set[str],
                   prefix: str = "") -> dict[str, float]:
    """FD and KID (those wanted) of 8-bit outputs against 8-bit targets; nothing without the Inception."""
    if inception is None:
        return {}
    from ganforge.metrics.pairs import distribution_scores

    scores = distribution_scores(inception, outputs, targets)
    items = scores.pop("fd_items")
    return _picked({**({"fd_items": int(items)} if not prefix else {}), **{prefix + k: v for k, v in scores.items()}},
                   wanted)


def _evaluate_pix2pix(generator: torch.nn.Module, described: dict[str, Any], source: Path, wanted: set[str],
                      inception: torch.nn.Module | None) -> dict[str, Any]:
    config, data = described["config"], described["data"]
    pairs = read_pairs(source, data["size"], config["task"], config["seed"])
    if (pairs.a.shape[1], pairs.b.shape[1]) != (data["a_channels"], data["b_channels"]):
        raise GanforgeError(f"--real {source}: its pairs have {pairs.a.shape[1]} and {pairs.b.shape[1]} channels; the "
                            f"run was trained on {data['a_channels']} and {data['b_channels']}")
    torch.manual_seed(config["seed"])
    with torch.no_grad():
        outputs = torch.cat([generator(to_model(chunk)) for chunk in pairs.a.split(64)])
    outputs = ((outputs.clamp(-1, 1) + 1) * 127.5).round()
    from ganforge.metrics.pairs import pair_scores

    targets = pairs.b.float()
    return {"pairs": len(pairs), **_picked(pair_scores(outputs, targets), wanted),
            **_distributions(inception, outputs, targets, wanted)}


def _evaluate_cycle(generator: torch.nn.Module, back: torch.nn.Module, described: dict[str, Any], source: Path,
                    wanted: set[str], inception: torch.nn.Module | None) -> dict[str, Any]:
    """CycleGAN's cycle-consistency error, mean |F(G(a)) − a| on [-1, 1] images of domain A, and FD/KID of G(a)
    against the images of domain B."""
    config, data = described["config"], described["data"]
    domains = read_unpaired(source, Path(config["data_b"]), data["size"])
    images = domains.a
    if images.shape[1] != data["a_channels"]:
        raise GanforgeError(f"--real {source}: its images have {images.shape[1]} channels; the run's domain A has "
                            f"{data['a_channels']}")
    cycles, translated = [], []
    with torch.no_grad():
        for chunk in to_model(images).split(64):
            forward = generator(chunk)
            cycles.append((back(forward) - chunk).abs().flatten(1).mean(1))
            translated.append(((forward.clamp(-1, 1) + 1) * 127.5).round())
    return {"pairs": len(images), **_picked({"cycle": float(torch.cat(cycles).mean())}, wanted),
            **_distributions(inception, torch.cat(translated), domains.b.float(), wanted)}


def _evaluate_sr(generator: torch.nn.Module, described: dict[str, Any], source: Path, wanted: set[str],
                 inception: torch.nn.Module | None) -> dict[str, Any]:
    """The super-resolution protocol on whole images (Set5, Set14 or held-out photos): each mod-cropped, downscaled by
    Pillow's bicubic, upscaled by the run and by bicubic; PSNR and SSIM on Y and NIQE (of the high-resolution image
    too), with `scale` pixels cropped from each border, averaged over images; FD and KID on 64-pixel crops of the
    outputs against those of the originals."""
    from ganforge.metrics.niqe import BLOCK, fits, niqe
    from ganforge.metrics.pairs import psnr_y, ssim_y

    scale = described["data"]["scale"]
    scores: dict[str, list[float]] = {key: [] for key in ("psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y")}
    if "niqe" in wanted:
        scores.update(niqe=[], bicubic_niqe=[], high_niqe=[])
    names, images, too_small = [], {"ours": [], "bicubic": [], "high": []}, 0
    for name, low, high in evaluation_pairs(source, scale):
        ours = upscale(generator, low, scale)
        bicubic = to_tensor(upscaled(Image.fromarray(low.permute(1, 2, 0).numpy()), scale))
        for prefix, output in (("", ours), ("bicubic_", bicubic)):
            scores[f"{prefix}psnr_y"].append(psnr_y(output[None].float(), high[None].float(), crop=scale))
            scores[f"{prefix}ssim_y"].append(ssim_y(output[None].float(), high[None].float(), crop=scale))
        if "niqe" in wanted and fits(*high.shape[1:], crop=scale):
            for prefix, image in (("", ours), ("bicubic_", bicubic), ("high_", high)):
                scores[f"{prefix}niqe"].append(niqe(image, crop=scale, name=str(source / name)))
        elif "niqe" in wanted:
            too_small += 1
        names.append(name)
        for key, image in (("ours", ours), ("bicubic", bicubic), ("high", high)):
            images[key].append(image)
    if too_small:
        log.warning("NIQE leaves out %d of %d images of %s: it needs two %d-pixel blocks", too_small, len(names),
                    source, BLOCK)
    means = {key: sum(values) / len(values) for key, values in scores.items() if values}
    per_image = {name: _picked({key: values[i] for key, values in scores.items() if len(values) == len(names)},
                               wanted) for i, name in enumerate(names)}
    return {"pairs": len(names), "scale": scale, "channel": "Y (BT.601, 16-235)", "border_crop": scale,
            **_picked(means, wanted), **_distributions(inception, images["ours"], images["high"], wanted),
            **_distributions(inception, images["bicubic"], images["high"], wanted, prefix="bicubic_"),
            **({"per_image": per_image} if wanted & {"psnr", "ssim", "niqe"} else {})}
