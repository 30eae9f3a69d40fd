"""Ctrl-C that stops a training loop at a step boundary, where the state is whole and can be saved."""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopOnInterrupt:
    """First Ctrl-C asks the loop to stop after the current step (and save); a second one stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
