"""The services of the rollups feature, as one value (``Services.of(Rollups)``)."""

from __future__ import annotations

from dataclasses import dataclass

from sessionkeeper.rollups.history import HistoryService
from sessionkeeper.rollups.retention import Retention
from sessionkeeper.rollups.service import RollupService


@dataclass(frozen=True)
class Rollups:
    refresher: RollupService
    history: HistoryService
    retention: Retention
