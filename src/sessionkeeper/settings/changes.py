"""Change events of tenant settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sessionkeeper.domain.events import ChangeEvent


@dataclass(frozen=True, slots=True)
class TimezoneChanged(ChangeEvent):
    """A tenant's time zone changed: every local day of its history has new boundaries."""

    name: ClassVar[str] = "settings.timezone_changed"
    timezone: str
    previous: str
    at: int
