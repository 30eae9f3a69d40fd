"""Ctrl-C that stops a training loop at a step boundary, where the state is whole and can be saved."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any


class StopOnInterrupt:
    """First Ctrl-C asks the loop to stop after the current step (and save); a second one stops at once.

    `shared`: one of several processes under torchrun. Ctrl-C in a terminal reaches every process and torchrun
    then passes its own SIGINT (or SIGTERM) on, so a second signal within `SHARED_GRACE` seconds is the same request;
    SIGTERM asks for a stop too.
    """

    SHARED_GRACE = 10.0

    def __init__(self, shared: bool = False) -> None:
        self.requested = False
        self.shared = shared
        self._first = 0.0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            signals = (signal.SIGINT, signal.SIGTERM) if self.shared else (signal.SIGINT,)
            self._previous = {s: signal.signal(s, self._handle) for s in signals}
            for number in signals:  # system calls a signal lands in resume rather than fail (other threads too)
                signal.siginterrupt(number, False)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            if self.shared and time.monotonic() - self._first < self.SHARED_GRACE:
                return
            raise KeyboardInterrupt
        self.requested = True
        self._first = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
