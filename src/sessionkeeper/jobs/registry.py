"""The explicit list of periodic jobs: what runs, and how often."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sessionkeeper.services.container import Services


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval_s: float
    run: Callable[[], Awaitable[object]]


def periodic_jobs(services: Services) -> list[Job]:
    settings = services.runtime.settings
    return [Job("sweep", settings.sweep_interval_s, services.sweeper.run)]
