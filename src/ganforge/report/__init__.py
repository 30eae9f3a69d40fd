"""`report.html`: one self-contained page per run (or per comparison of runs) that opens offline and fetches nothing.

It holds the run's settings and the command that reproduces it, its curves (losses, D(x) and D(G(z)), gradient
norms, speed, every evaluated metric) with the diagnoses and rollbacks drawn where they started and ended, every
sample grid behind a slider (a filmstrip with JavaScript off), and for a table run the real and synthetic
distributions, the pair-trend differences and the last evaluation. Charts are matplotlib SVG and the page a Jinja2
template: everything but the slider works without JavaScript. Grids are stored as WebP (quality 80) and at most
`MAX_GRIDS` of them, spread over the run, so a 20,000-step run stays a few MB.
"""

from __future__ import annotations

import base64
import io
import math
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.report import charts
from ganforge.report.sequences import sequence_section
from ganforge.report.tables import table_section
from ganforge.training.checkpoint import atomic_write_text
from ganforge.training.run_folder import RunFolder
from ganforge.version import __version__

REPORT_FILE = "report.html"
MAX_GRIDS = 100  # grids embedded per run: the newest, the best and the rest evenly spread
GRID_BYTES = 12_000_000  # and at most this much of them (fewer grids, spread, when larger): a report stays < 15 MB
MAX_GRID_SIDE = 1024  # grids wider or taller are scaled down (256-pixel images make 2,048-pixel grids)
WEBP_QUALITY = 80
CURVES = [("losses", ("d_loss", "g_loss", "cond_loss", "target_loss"), False),
          ("D(x) and D(G(z))", ("d_real", "d_fake"), False),
          ("gradient norms", ("g_grad_norm", "d_grad_norm"), True),
          ("samples per second", ("samples_per_sec",), False),
          ("fixed samples: spread vs real, movement", ("diversity", "movement"), False),
          ("modes reached", ("modes_reached",), False),
          ("adaptive augmentation: p, and r_t = E[sign D(x)] (target 0.6)", ("augment_p", "rt"), False),
          ("classes: least and median spread vs real, worst leak", ("class_diversity_min", "class_diversity_median",
                                                                    "leak_share"), False)]
NOT_CHARTED = {"n_real", "n_fake", "seconds", "modes_total"}
_encoded: dict[tuple[str, float], str] = {}  # grid path and mtime → data URI (a live report encodes each once)


def _grid_uri(path: Path) -> str:
    key = (str(path), path.stat().st_mtime)
    if key not in _encoded:
        if len(_encoded) > 4 * MAX_GRIDS:  # a long-lived process (notebook) keeps only recent runs' grids
            _encoded.clear()
        buffer = io.BytesIO()
        with Image.open(path) as image:
            image = image.convert("RGB")
            if max(image.size) > MAX_GRID_SIDE:
                image.thumbnail((MAX_GRID_SIDE, MAX_GRID_SIDE), Image.Resampling.LANCZOS)
            image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4)
        _encoded[key] = "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return _encoded[key]


class RunView:
    """What a report shows of one run folder, read from its files."""

    def __init__(self, path: str | Path):
        self.run = RunFolder.open(path)
        self.path, self.name = self.run.path, self.run.path.name
        stored = self.run.read_config()
        self.stored, self.kind = stored, stored.get("kind", "tensor")
        self.config = stored.get("config", {})
        records = self.run.read_metrics()
        self.records = [r for r in records if "eval" not in r]
        self.evals = [(r["step"], r["eval"]) for r in records if "eval" in r]
        self.diagnoses = self.run.read_diagnoses()
        self.best = _read_json(self.run.checkpoints / "best.json")
        self.eval_report = _read_json(self.path / "eval.json")
        self.grids = sorted(((int(p.stem.removeprefix("step_")), p) for p in self.run.samples.glob("step_*.png")
                             if p.stem.removeprefix("step_").isdigit()), key=lambda item: item[0])

    def steps_done(self) -> int:
        """The last step logged or evaluated."""
        return max([r.get("step", 0) for r in self.records] + [s for s, _ in self.evals] + [0])

    def steps_planned(self) -> int | None:
        """The steps asked for (None for tables, which count epochs)."""
        if self.kind == "table":
            return None
        return self.config.get("steps")

    def spans(self) -> list[dict[str, Any]]:
        """Diagnoses as (start, end) spans on the step axis, and rollbacks, with their sentence and remedy."""
        spans, open_ = [], {}
        last = self.steps_done()
        for event in self.diagnoses:
            name, step = event.get("name", "?"), event.get("step", 0)
            if event.get("event") == "start":
                open_[name] = event
            elif event.get("event") == "end" and name in open_:
                started = open_.pop(name)
                spans.append({"name": name, "start": started["step"], "end": step,
                              "evidence": started.get("evidence", ""), "remedy": started.get("remedy", "")})
            elif event.get("event") == "rollback":
                spans.append({"name": "rollback", "start": step, "end": step, "rollback": True,
                              "evidence": event.get("evidence", ""), "remedy": event.get("remedy", "")})
        for name, started in open_.items():  # still raised at the last log line
            spans.append({"name": name, "start": started["step"], "end": last, "ongoing": True,
                          "evidence": started.get("evidence", ""), "remedy": started.get("remedy", "")})
        return sorted(({"rollback": False, "ongoing": False, **span} for span in spans), key=lambda s: s["start"])

    def summary(self) -> str:
        """The final (or best) metrics in one line."""
        parts = []
        if self.best:
            parts.append(f"best {self.best.get('metric')} {self.best.get('value'):.4g} at step {self.best.get('step')}")
        if self.evals:
            step, values = self.evals[-1]
            shown = [f"{k} {v:.4g}" for k, v in values.items() if _is_number(v) and k not in NOT_CHARTED][:6]
            parts.append(f"at step {step}: " + ", ".join(shown))
        elif self.eval_report and "quality" in self.eval_report:
            parts.append(f"quality {self.eval_report['quality']:.4f}")
        if self.records:
            last = self.records[-1]
            parts.append("last log: " + ", ".join(f"{k} {last[k]:.4g}" for k in ("d_loss", "g_loss", "d_real",
                                                                               "d_fake") if _is_number(last.get(k))))
        return "; ".join(parts) or "no metrics logged yet"

    def command(self) -> str:
        """The command that trains this run again, into a new folder (every option that differs from its
        default)."""
        from ganforge.config import TrainConfig, build_config

        defaults = TrainConfig().to_json()
        if self.kind == "table":  # stored by TableGAN's option names: back to the flags of `ganforge train`
            from ganforge.tabular.run import TABLE_OPTIONS

            flags = {table: flag for flag, table in TABLE_OPTIONS.items()}
            resolved = {flags.get(k, k): (",".join(v) if k in ("categorical", "ignore") else v)
                        for k, v in self.config.items() if flags.get(k, k) in defaults}
            resolved = {k: resolved[k] for k in defaults if k in resolved}
        else:
            config = {"augment_p": "off", **self.config}  # runs from before adaptive augmentation had none
            try:
                resolved = build_config({k: v for k, v in config.items() if k in defaults}).to_json()
            except GanforgeError:
                resolved = {k: v for k, v in config.items() if k in defaults}
        words = ["ganforge", "train"]
        processes = (self.stored.get("runtime") or {}).get("processes", 1)
        if processes > 1:  # the batches depend on it
            words += ["--nproc", str(processes)]
        for key, value in resolved.items():
            if key in ("extra", "out") or value == defaults.get(key) or value is None or value == "":
                continue
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                words.append(flag if value else "--no-" + key.replace("_", "-"))
            elif isinstance(value, list):
                words += [flag, *map(str, value)]
            else:
                words += [flag, str(value)]
        return shlex.join([*words, "--out", f"{self.path}-again"])

    def settings(self) -> list[tuple[str, str]]:
        """The header's rows."""
        config, stored = self.config, self.stored
        runtime = stored.get("runtime", {})
        model = stored.get("model", {})
        seconds = stored.get("table", {}).get("fit_seconds") if self.kind == "table" else \
            sum(r.get("seconds") or 0.0 for r in self.records)
        rows = [("data", f"{stored.get('data', {}).get('name') or config.get('data')}"),
                ("status", self.status())]
        if self.kind == "table":
            table = stored.get("table", {})
            rows += [("model", "TableGAN (conditional tabular GAN, WGAN-GP critic)"),
                     ("epochs", f"{self.records[-1].get('epoch', 0) if self.records else 0} of {config.get('epochs')}"),
                     ("rows", str(table.get("rows", "?")))]
        else:
            options = ", ".join(f"{k} {v}" for k, v in (model.get("options") or {}).items())
            off = {"pack": 1, "spectral_norm": False}  # the value that means "not used"; 0 or empty for the rest
            regularisers = ", ".join(f"{k} {config[k]}" for k in ("r1", "r2", "gp", "ema", "pack", "augment",
                                                                  "label_smoothing", "instance_noise", "spectral_norm")
                                     if config.get(k) not in (None, "") and config.get(k) is not off.get(k, 0)
                                     and config.get(k) != off.get(k, 0))
            conditional = model.get("conditional")
            rows += [("model", f"{model.get('name')} ({options})"
                      + (f", conditional {conditional['method']} on {conditional['classes']} classes"
                         if conditional else "")),
                     ("loss", f"{config.get('loss')}" + (f"; {regularisers}" if regularisers else "")),
                     ("augmentation", self._augmentation()),
                     ("steps", f"{self.steps_done():,} of {self.steps_planned() or 0:,}")]
        shown = "—" if not seconds else f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"
        precision = f"{runtime['precision']}, " if "precision" in runtime else ""
        rows += [("fit time" if self.kind == "table" else "time in training steps", shown),
                 ("hardware", f"{runtime.get('device', '?')}, {precision}{runtime.get('threads', '?')} thread"
                              f"{'' if runtime.get('threads') == 1 else 's'}"),
                 ("ganforge", f"{stored.get('ganforge', '?')} (report by {__version__})")]
        return rows

    def _augmentation(self) -> str:
        """What augmented D's inputs: adaptive augmentation (with the p it reached), a fixed p, DiffAugment."""
        ps = [r["augment_p"] for r in self.records if _is_number(r.get("augment_p"))]
        parts = []
        if ps:
            adaptive = self.config.get("augment_p") in ("ada", "auto")
            parts.append(f"adaptive (ADA): p {ps[-1]:.2f} at the last log line, at most {max(ps):.2f}, steered to "
                         "r_t 0.6" if adaptive else f"ADA transforms at a fixed p {ps[-1]:.2f}")
        elif self.config.get("augment_p") not in (None, "off", "auto"):
            parts.append(f"ADA transforms, p {self.config['augment_p']}")
        if self.config.get("augment"):
            parts.append(f"DiffAugment {self.config['augment']}")
        return "; ".join(parts) or "none"

    def strip_title(self) -> str:
        """What the sample pictures show: grids at fixed noise, or an image-to-image run's strips."""
        if self.kind != "pairs":
            return "Samples at fixed noise"
        return {"cyclegan": "A | G(A) | F(G(A)) over training", "srresnet": "Bicubic | ours | high resolution over "
                "training"}.get(self.stored.get("model", {}).get("name"), "Input | output | target over training")

    def pair_scores(self) -> list[tuple[str, str]]:
        """An image-to-image run's `ganforge eval` scores (eval.json), as (name, value) rows; none before it ran."""
        if self.kind != "pairs" or not self.eval_report:
            return []
        names = {"l1": "L1 (on [-1, 1])", "psnr_y": "PSNR, Y (dB)", "ssim_y": "SSIM, Y", "cycle": "cycle error",
                 "bicubic_psnr_y": "bicubic PSNR, Y (dB)", "bicubic_ssim_y": "bicubic SSIM, Y",
                 "fd": "FD against the targets (Inception)", "bicubic_fd": "bicubic FD", "kid": "KID",
                 "bicubic_kid": "bicubic KID", "niqe": "NIQE (lower: more natural)", "bicubic_niqe": "bicubic NIQE",
                 "high_niqe": "high-resolution NIQE"}
        rows = [(label, f"{self.eval_report[key]:.4f}") for key, label in names.items() if key in self.eval_report]
        held = "held-out" if self.eval_report.get("held_out") else "training"
        return [("measured on", f"{self.eval_report.get('pairs')} {held} images of {self.eval_report.get('real')} "
                                f"at step {self.eval_report.get('step')}"), *rows]

    def row_labels(self) -> list[str]:
        """The class of each row of a conditional run's sample grids (recorded in config.json; none before)."""
        return list((self.stored.get("model", {}).get("conditional") or {}).get("grid_rows") or [])

    def status(self) -> str:
        """Finished, or stopped (or still running)."""
        if self.kind == "table":
            return {"done": "finished", "fitting": "stopped or still fitting"}.get(self.stored.get("status"), "?")
        planned = self.steps_planned() or 0
        return "finished" if self.steps_done() >= planned else "stopped or still training"

    def curves(self, other: list[RunView] | None = None) -> list[str]:
        """SVG charts of the logged values (overlaid across runs in a comparison), and one per evaluated value."""
        views = [self, *(other or [])]
        spans = self.spans() if not other else []
        styles: dict[str, tuple[str, str]] = {}  # a comparison: one colour per run, one line style per value
        if other:
            for i, view in enumerate(views):
                color = charts.PALETTE[i % len(charts.PALETTE)]
                styles[view.name] = (color, "-")
                for _, keys, _ in CURVES:
                    styles.update({f"{view.name}: {key}": (color, ("-", "--", ":")[j % 3])
                                   for j, key in enumerate(keys)})
        out = []
        for title, keys, log_scale in CURVES:
            series = {}
            for view in views:
                for key in keys:
                    points = [(r["step"], r.get(key)) for r in view.records if key in r]
                    if points:
                        series[key if not other else f"{view.name}: {key}"] = points
            if series:
                out.append(charts.line_chart(title, series, spans, log_scale, styles=styles))
        names = list(dict.fromkeys(k for view in views for _, values in view.evals for k, v in values.items()
                                   if _is_number(v) and k not in NOT_CHARTED))
        panels = {f"eval: {name}": {view.name if other else name: [(s, values.get(name)) for s, values in view.evals]
                                    for view in views if view.evals} for name in names}
        if panels:
            out.append(charts.small_multiples(panels, spans, styles=styles))
        return out

    def grid_frames(self, budget: int = GRID_BYTES) -> list[dict[str, Any]]:
        """The grids to embed, oldest first: at most MAX_GRIDS and `budget` bytes of them, the last, the best and
        the rest spread evenly."""
        best_step = (self.best or {}).get("step")
        count = MAX_GRIDS
        while True:
            grids = self.grids
            if len(grids) > count:
                keep = {round(i * (len(grids) - 1) / max(1, count - 2)) for i in range(count - 1)}
                keep |= {i for i, (step, _) in enumerate(grids) if step == best_step}
                grids = [grids[i] for i in sorted(keep)]
            frames = [{"step": step, "uri": _grid_uri(path), "best": step == best_step} for step, path in grids]
            size = sum(len(f["uri"]) for f in frames)
            if size <= budget or len(frames) <= 2:
                return frames
            count = max(2, int(len(frames) * budget / size))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _read_json(path: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def build_report(runs: list[str | Path], out: str | Path | None = None) -> Path:
    """Write the report of one run (default `RUN/report.html`) or the comparison of several (`out` required)."""
    if not runs:
        raise GanforgeError("report needs at least one run folder")
    views = [RunView(path) for path in runs]
    if len(views) > 1 and out is None:
        raise GanforgeError("a comparison of several runs needs --out FILE.html")
    if len({view.path for view in views}) < len(views):
        raise GanforgeError("a run is given twice; compare different runs")
    if len({view.kind for view in views}) > 1:
        raise GanforgeError(f"runs of different kinds ({', '.join(sorted({v.kind for v in views}))}) do not compare; "
                            "compare image and vector runs with each other, or table runs with each other")
    target = Path(out) if out is not None else views[0].path / REPORT_FILE
    if target.suffix.lower() not in (".html", ".htm"):
        raise GanforgeError(f"--out {target}: a report is written as an .html file")
    environment = jinja2.Environment(loader=jinja2.FunctionLoader(_template), autoescape=True,
                                     undefined=jinja2.StrictUndefined)
    if len(views) == 1:
        view = views[0]
        page = environment.get_template("run.html").render(
            view=view, settings=view.settings(), curves=view.curves(), spans=view.spans(), frames=view.grid_frames(),
            table=table_section(view), series=sequence_section(view), title=f"ganforge run {view.name}")
    else:
        _label_apart(views)
        frames = [{f["step"]: f for f in view.grid_frames(GRID_BYTES // len(views))} for view in views]
        steps = sorted({step for by_step in frames for step in by_step})
        page = environment.get_template("compare.html").render(
            views=views, curves=views[0].curves(views[1:]), steps=steps, frames=frames, ranking=_ranking(views),
            differences=_differences(views), title=f"ganforge: {len(views)} runs compared")
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, page)
    return target


def _label_apart(views: list[RunView]) -> None:
    """Name each run by as much of its path as tells it apart from the others (runs/a/x and runs/b/x)."""
    for depth in range(1, 1 + max(len(view.path.parts) for view in views)):
        names = ["/".join(view.path.parts[-depth:]) for view in views]
        if len(set(names)) == len(names):
            break
    for view, name in zip(views, names, strict=True):
        view.name = name


def _ranking(views: list[RunView]) -> str:
    """Which run did best on the value their best checkpoints were kept by, when they share one."""
    from ganforge.metrics.base import better_direction

    bests = [(view.best["value"], view.name) for view in views if view.best and _is_number(view.best.get("value"))]
    metrics = {view.best.get("metric") for view in views if view.best}
    if len(bests) < 2 or len(metrics) != 1:
        return ""
    (metric,) = metrics
    higher = better_direction(metric) == "max"
    ordered = sorted(bests, reverse=higher)
    return (f"Best {metric} ({'higher' if higher else 'lower'} is better): {ordered[0][1]} with {ordered[0][0]:.4g}; "
            + "; then " + ", ".join(f"{name} {value:.4g}" for value, name in ordered[1:]))


def _differences(views: list[RunView]) -> list[tuple[str, list[str]]]:
    """The options whose values differ between the runs: what the comparison is about."""
    keys = sorted({k for view in views for k in view.config} - {"out", "data", "extra"})
    return [(key, [str(view.config.get(key)) for view in views]) for key in keys
            if len({str(view.config.get(key)) for view in views}) > 1]


def _template(name: str) -> str:
    return resources.files("ganforge.report").joinpath(name).read_text(encoding="utf-8")
