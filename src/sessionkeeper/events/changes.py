"""Change events of activity events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sessionkeeper.domain.events import ChangeEvent


@dataclass(frozen=True, slots=True)
class EventsStored(ChangeEvent):
    """A write stored ``count`` new events of one tenant, made between the two times."""

    name: ClassVar[str] = "events.stored"
    first_at: int
    last_at: int
    count: int


@dataclass(frozen=True, slots=True)
class EventsDropped(ChangeEvent):
    """Retention dropped raw events of one tenant made before ``before``."""

    name: ClassVar[str] = "events.dropped"
    before: int
    count: int
