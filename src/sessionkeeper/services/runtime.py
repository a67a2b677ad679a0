"""What every service needs, built once per process: settings, clock, database, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from sessionkeeper.clock import Clock, SystemClock
from sessionkeeper.config import Settings
from sessionkeeper.services.metrics import Metrics
from sessionkeeper.storage.database import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    metrics: Metrics = field(default_factory=Metrics)

    @classmethod
    def open(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        return cls(
            settings=settings,
            db=Database(settings),
            clock=clock or SystemClock(),
            metrics=Metrics(max_kinds=settings.metrics_max_kinds),
        )

    def close(self) -> None:
        self.db.close()
