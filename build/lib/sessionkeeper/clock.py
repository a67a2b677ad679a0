"""The only place that reads the wall clock.

Everything else receives ``now`` from a :class:`Clock`, so the lifecycle rules can be tested
with a scripted clock and a restart can be replayed at any moment of a scripted day.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch, UTC."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to: for tests and scripted scenarios."""

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def set(self, now_ms: int) -> None:
        with self._lock:
            self._now = now_ms

    def advance(self, seconds: float) -> int:
        with self._lock:
            self._now += round(seconds * 1000)
            return self._now


def monotonic_s() -> float:
    """Seconds on a clock that never jumps: for cache expiry and measuring durations."""
    return time.monotonic()
