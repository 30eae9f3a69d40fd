"""A health monitor fed one `Observation` per log interval; it raises and clears named findings.

Each finding has one sentence of evidence and one remedy. The rules, and why:
- `divergence`: losses or weights stop being finite, or a gradient norm jumps far above its recent median;
  nothing good follows, so the trainer rolls back to the last good checkpoint.
- `discriminator_wins`: mean D(G(z)) stays near 0 — D rejects every sample, so the generator's gradient vanishes
  (with the minimax loss it vanishes exactly; Goodfellow et al. 2014).
- `mode_collapse`: the fixed-noise samples are much less spread than real data, or (on the mixtures) they fall near
  only a few of the modes and reach no new ones.
- `oscillation`: D(G(z)) swings back and forth across most of its range from one interval to the next.
- `generator_stalled`: the fixed-noise samples stop moving while the generator's gradient is tiny.
- `class_collapse` (conditional runs): one class's samples are far less spread than its real samples while the
  other classes are fine (see `diagnostics.classes`).
- `class_leakage` (conditional runs): most samples asked for one class sit nearest another class's real mean.
- `discriminator_overfitting`: with nothing augmenting what D sees, D calls nearly every real image real
  (r_t = E[sign D(x_real)] near 1, where adaptive augmentation aims at 0.6) while it rejects the generated ones: on a
  small dataset it has memorised the training images, and G learns artefacts that fool it (Karras et al. 2020).
- `flat_series` (time series): the generated series barely change over time against real ones (a generator that
  has learnt each series' level but not its course; see `diagnostics.sequences`).
- `time_ignored` (time series): neighbouring generated steps are no more alike than any two, where real series'
  neighbours are: the generator makes each step as if the others were not there.
Sustained findings need `patience` steps of evidence after a warm-up, so a healthy run raises none.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

SIGN_LOSSES = ("nonsaturating", "minimax", "hinge")  # losses whose D logit is positive for "real"
HINGE_MARGIN = 0.27  # σ(−1): D(G(z)) where the hinge loss stops pushing generated samples down


@dataclass
class Observation:
    """What the trainer measured over one log interval."""

    step: int
    d_loss: float
    g_loss: float
    d_real: float
    d_fake: float
    g_grad_norm: float = math.nan
    d_grad_norm: float = math.nan
    weights_finite: bool = True
    diversity: float | None = None  # spread of fixed-noise samples / spread of real samples
    modes_reached: int | None = None  # mixtures: modes that are nearest to a fair share of samples
    modes_total: int | None = None
    movement: float | None = None  # relative change of the fixed-noise samples since the last observation
    class_diversity_min: float | None = None  # conditional: the least spread class (vs its real samples)
    class_diversity_median: float | None = None
    collapsed_class: str | None = None  # the class with class_diversity_min
    leaking_class: str | None = None  # conditional: the class whose samples most look like another class
    leak_target: str | None = None
    leak_share: float | None = None  # share of leaking_class's samples nearest leak_target's real mean
    rt: float | None = None  # E[sign D(x_real)] over the interval (ADA's r_t)
    augmented: bool = False  # whether D's inputs were augmented (ADA above 0, DiffAugment)
    time_variation: float | None = None  # time series: spread over steps / that of real series
    time_order: float | None = None  # time series: how much the steps' order matters / as much for real series
    phase: str | None = None  # a task trained in phases (super-resolution: pixels, then gan) names the current one


@dataclass
class Finding:
    """A named trouble with its evidence and what to do about it."""

    name: str
    evidence: str
    remedy: str
    step: int = 0


@dataclass
class Event:
    """A finding starting or ending, as written to `diagnoses.jsonl`."""

    kind: str  # "start" or "end"
    finding: Finding
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """One JSON line."""
        return {"event": self.kind, **asdict(self.finding), **self.extra}


@dataclass
class Thresholds:
    """Limits of the rules; the defaults were chosen so that seeded healthy runs raise nothing."""

    d_fake_floor: float = 0.02
    diversity_floor: float = 0.25
    modes_share: float = 0.5
    explode_factor: float = 100.0
    swing: float = 0.5
    swings_needed: int = 4
    stall_movement: float = 1e-4
    stall_grad: float = 1e-6
    class_diversity_floor: float = 0.25
    leak_share: float = 0.75
    overfit_rt: float = 0.85
    overfit_d_fake: float = 0.15
    overfit_window: int = 4
    flat_variation: float = 0.1
    time_order_floor: float = 0.25


class HealthMonitor:
    """Turns a stream of observations into start/end events of findings."""

    def __init__(self, loss: str, warmup: int, patience: int, thresholds: Thresholds | None = None,
                 probabilistic: bool = True, samples: str = "images"):
        self.loss, self.warmup, self.patience, self.samples = loss, warmup, patience, samples
        self.probabilistic = probabilistic  # D(G(z)) thresholds mean nothing for critics and margins
        self.limits = thresholds or Thresholds()
        self.history: deque[Observation] = deque(maxlen=64)
        self.active: dict[str, Finding] = {}
        self._since: dict[str, int] = {}  # rule name → first step its condition held in the current streak
        self._peak_g_grad = 0.0

    # ----- the rules ------------------------------------------------------------------------------------------
    def _divergence(self, now: Observation) -> Finding | None:
        values = (now.d_loss, now.g_loss, now.d_real, now.d_fake)
        if not now.weights_finite or not all(math.isfinite(v) for v in values):
            what = "the weights" if not now.weights_finite else "the losses"
            return Finding("divergence", f"{what} became NaN or infinite by step {now.step:,}",
                           "lower --lr-g and --lr-d (ganforge halves them when it rolls back)")
        for network, attribute in (("discriminator", "d_grad_norm"), ("generator", "g_grad_norm")):
            # against the 90th percentile of the history (up to 64 intervals): a recovery from a slump back to the
            # usual level is not an explosion. Only the current phase counts: a new objective (L1, then L1 + GAN +
            # perceptual) brings gradients of a new scale by design.
            recent = [getattr(o, attribute) for o in list(self.history)[:-1]
                      if math.isfinite(getattr(o, attribute)) and o.phase == now.phase]
            value = getattr(now, attribute)
            if len(recent) >= 5 and math.isfinite(value):
                usual = statistics.quantiles(recent, n=10, method="inclusive")[-1]
                if usual > 0 and value > self.limits.explode_factor * usual:
                    return Finding("divergence", f"the {network}'s gradient norm jumped to {value:.3g}, "
                                                 f"{value / usual:,.0f}× its usual level, at step {now.step:,}",
                                   "lower the learning rates or add spectral normalisation / a gradient penalty")
        return None

    def _discriminator_wins(self, now: Observation) -> Finding | None:
        if not self.probabilistic or now.d_fake >= self.limits.d_fake_floor:
            return None
        since = self._since.get("discriminator_wins", now.step)
        fall = ""
        if self._peak_g_grad > 0 and math.isfinite(now.g_grad_norm) and now.g_grad_norm > 0:
            fall = f"; the generator's gradient norm fell {self._peak_g_grad / now.g_grad_norm:,.0f}× from its peak"
        remedy = ("use the non-saturating loss (--loss nonsaturating)" if self.loss == "minimax"
                  else "lower the discriminator's learning rate (--lr-d) or its width (--d-width)")
        return Finding("discriminator_wins",
                       f"D(G(z)) has stayed below {self.limits.d_fake_floor} for {now.step - since:,} steps "
                       f"(now {now.d_fake:.4f}, D(x) {now.d_real:.3f}){fall}", remedy)

    def _mode_collapse(self, now: Observation) -> Finding | None:
        remedy = "pack samples for the discriminator (PacGAN) or lower the generator's learning rate (--lr-g)"
        earlier = [o.modes_reached for o in list(self.history)[-2:-1] if o.modes_reached is not None]
        # Few modes *and* no new ones: early in training a healthy generator covers modes one after another.
        if now.modes_total and now.modes_reached is not None \
                and now.modes_reached <= self.limits.modes_share * now.modes_total \
                and (not earlier or now.modes_reached <= earlier[0]):
            since = self._since.get("mode_collapse", now.step)
            return Finding("mode_collapse", f"the fixed samples have crowded onto {now.modes_reached} of "
                                            f"{now.modes_total} modes for {now.step - since:,} steps", remedy)
        if now.diversity is not None and now.diversity < self.limits.diversity_floor:
            since = self._since.get("mode_collapse", now.step)
            return Finding("mode_collapse", f"generated samples are {1 / max(now.diversity, 1e-9):.1f}× less spread "
                                            f"than real ones for {now.step - since:,} steps", remedy)
        return None

    def _oscillation(self, now: Observation) -> Finding | None:
        if not self.probabilistic:
            return None
        window = [o.d_fake for o in list(self.history)[-9:]]
        swings = sum(1 for a, b in itertools.pairwise(window) if abs(a - b) > self.limits.swing)
        if swings < self.limits.swings_needed:
            return None
        return Finding("oscillation", f"D(G(z)) swung by more than {self.limits.swing} between log intervals "
                                      f"{swings} times in the last {len(window) - 1} intervals "
                                      f"(between {min(window):.2f} and {max(window):.2f})",
                       "lower both learning rates (e.g. halve --lr-g and --lr-d) or add a gradient penalty")

    def _generator_stalled(self, now: Observation) -> Finding | None:
        if now.movement is None or now.movement >= self.limits.stall_movement:
            return None
        if not (math.isfinite(now.g_grad_norm) and now.g_grad_norm < self.limits.stall_grad):
            return None
        since = self._since.get("generator_stalled", now.step)
        return Finding("generator_stalled", f"the fixed-noise samples moved only {now.movement:.1e} (relative) per "
                                            f"interval for {now.step - since:,} steps; G's gradient norm is "
                                            f"{now.g_grad_norm:.1e}",
                       "raise --lr-g or use the non-saturating loss; check the data is scaled as expected")

    def _class_collapse(self, now: Observation) -> Finding | None:
        low, median = now.class_diversity_min, now.class_diversity_median
        if low is None or median is None or low >= self.limits.class_diversity_floor * median \
                or median < 2 * self.limits.class_diversity_floor:  # all classes low: that is mode_collapse
            return None
        since = self._since.get("class_collapse", now.step)
        return Finding("class_collapse", f"samples of class {now.collapsed_class} are {1 / max(low, 1e-9):.1f}× less "
                                         f"spread than its real samples while the median class is at {median:.2f}× "
                                         f"for {now.step - since:,} steps",
                       f"check that class {now.collapsed_class} has enough varied images; add --minibatch-std or "
                       "--pack 2, or lower --lr-g")

    def _class_leakage(self, now: Observation) -> Finding | None:
        if now.leak_share is None or now.leak_share < self.limits.leak_share:
            return None
        since = self._since.get("class_leakage", now.step)
        return Finding("class_leakage", f"{now.leak_share:.0%} of the samples asked for class {now.leaking_class} "
                                        f"look like class {now.leak_target} (nearest to its real mean) for "
                                        f"{now.step - since:,} steps",
                       f"check the labels of {now.leaking_class} and {now.leak_target}; train longer, or use the "
                       "projection discriminator (--cond cbn-proj)")

    def _discriminator_overfitting(self, now: Observation) -> Finding | None:
        if self.loss not in SIGN_LOSSES or now.rt is None or now.augmented:
            return None
        # r_t is noisy from one interval to the next: judged on the last few together
        recent = [o for o in list(self.history)[-self.limits.overfit_window:] if o.rt is not None and not o.augmented]
        rt = statistics.fmean(o.rt for o in recent)
        d_fake = statistics.fmean(o.d_fake for o in recent)
        # hinge D stops pushing at the margin (logit −1, σ = 0.27) rather than towards 0
        floor = max(self.limits.overfit_d_fake, HINGE_MARGIN) if self.loss == "hinge" else self.limits.overfit_d_fake
        if rt < self.limits.overfit_rt or d_fake > floor:
            return None
        since = self._since.get("discriminator_overfitting", now.step)
        what = self.samples
        remedy = ("turn on adaptive augmentation (--augment-p ada), or DiffAugment (--augment translation,color); "
                  "more images help most") if what == "images" else \
            f"more {what} help most; else a smaller D (--d-width) or an R1 penalty (--r1 1)"
        return Finding("discriminator_overfitting",
                       f"D has called {(1 + rt) / 2:.0%} of the real {what} real (r_t = E[sign D(x)] = {rt:.2f}; "
                       f"adaptive augmentation aims at 0.6) while D(G(z)) is {d_fake:.2f}, for {now.step - since:,} "
                       f"steps with nothing augmenting what D sees: it is memorising the training {what}", remedy)

    # ----- bookkeeping ----------------------------------------------------------------------------------------
    def _flat_series(self, now: Observation) -> Finding | None:
        if now.time_variation is None or now.time_variation >= self.limits.flat_variation:
            return None
        return Finding("flat_series", f"the generated series change {now.time_variation:.0%} as much over time as "
                                      "real ones", "train longer; if it lasts, try --cell gru (recurrent layers)")

    def _time_ignored(self, now: Observation) -> Finding | None:
        if now.time_order is None or now.time_order >= self.limits.time_order_floor:
            return None
        if now.time_variation is not None and now.time_variation < self.limits.flat_variation:
            return None  # flat series: what little they change is noise, and flat_series says so
        return Finding("time_ignored", f"neighbouring steps of the generated series keep {max(now.time_order, 0):.0%} "
                                       "of the likeness real neighbours have: the steps ignore each other",
                       "train longer; if it lasts, lower --lr-g and --lr-d, or try --cell gru (recurrent layers)")

    def state_dict(self) -> dict[str, Any]:
        """Plain-JSON state, stored in checkpoints so a resumed run diagnoses exactly as an unbroken one."""
        return {"history": [asdict(o) for o in self.history], "active": {k: asdict(v) for k, v in self.active.items()},
                "since": self._since, "peak_g_grad": self._peak_g_grad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict` output."""
        measured = ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "d_grad_norm")  # JSON keeps NaN as null
        self.history = deque((Observation(**{**o, **{k: math.nan for k in measured if o.get(k, 0) is None}})
                              for o in state["history"]), maxlen=self.history.maxlen)
        self.active = {k: Finding(**v) for k, v in state["active"].items()}
        self._since = {k: int(v) for k, v in state["since"].items()}
        self._peak_g_grad = float(state["peak_g_grad"])

    def observe(self, now: Observation) -> list[Event]:
        """Take one interval's observation; return the findings that started or ended with it."""
        self.history.append(now)
        if math.isfinite(now.g_grad_norm):
            self._peak_g_grad = max(self._peak_g_grad, now.g_grad_norm)
        rules = {"divergence": self._divergence, "discriminator_wins": self._discriminator_wins,
                 "mode_collapse": self._mode_collapse, "oscillation": self._oscillation,
                 "generator_stalled": self._generator_stalled, "class_collapse": self._class_collapse,
                 "class_leakage": self._class_leakage, "discriminator_overfitting": self._discriminator_overfitting,
                 "flat_series": self._flat_series, "time_ignored": self._time_ignored}
        immediate = {"divergence", "oscillation"}
        events: list[Event] = []
        for name, rule in rules.items():
            finding = rule(now) if (now.step > self.warmup or name == "divergence") else None
            if finding is None:
                self._since.pop(name, None)
                if name in self.active:
                    ended = self.active.pop(name)
                    events.append(Event("end", Finding(name, f"cleared at step {now.step:,}", ended.remedy,
                                                       now.step)))
                continue
            self._since.setdefault(name, now.step)
            lasting = now.step - self._since[name] >= self.patience
            if name not in self.active and (name in immediate or lasting):
                finding.step = now.step
                self.active[name] = finding
                events.append(Event("start", finding))
        return events
