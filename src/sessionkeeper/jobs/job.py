"""A periodic job: what runs, and how often."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval_s: float
    run: Callable[[], Awaitable[object]]
    # Run by one server process at a time (a database lock per job name); the others skip
    # the round. Jobs that are safe to run concurrently (the sweep) leave it False, so that
    # any live process does the work.
    exclusive: bool = False
