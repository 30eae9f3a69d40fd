"""How long a run will take, said once near its start from the speed of its first steps."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("ganforge")
MIN_STEPS, MIN_SECONDS = 5, 3.0  # judged after at least this many steps and seconds past the first step
MAX_STEPS = 50  # or after this many steps, however fast they were


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `2 h 05 min`."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"


class Pace:
    """Times the steps after the first (which pays for warm-up) and logs the expected duration of the rest of the
    run once, e.g. "about 29 min for 3,000 steps at 0.58 s/step". Sampling, checkpoints and evaluation in those
    steps are counted: the estimate is of wall time."""

    def __init__(self, first_step: int, total_steps: int, unit: str = "step"):
        self.first_step, self.total, self.unit = first_step, total_steps, unit
        self._start: float | None = None
        self._timed_from = first_step
        self.said: str | None = None

    def step_done(self, step: int) -> None:
        """Call after each step with the number of steps done."""
        if self.said is not None or step >= self.total:
            return
        now = time.perf_counter()
        if self._start is None:
            self._start = now
            self._timed_from = step
            return
        timed, seconds = step - self._timed_from, now - self._start
        if timed < MAX_STEPS and (timed < MIN_STEPS or seconds < MIN_SECONDS):
            return
        per_step = seconds / timed
        steps = self.total - self.first_step
        resumed = f" (from {self.first_step:,} to {self.total:,})" if self.first_step else ""
        self.said = (f"about {duration(per_step * steps)} for {steps:,} {self.unit}{'s' * (steps != 1)}{resumed} at "
                     f"{per_step:.3g} s/{self.unit}")
        log.info("%s", self.said)
