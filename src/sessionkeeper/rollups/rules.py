"""What a rollup counts: the definitions, and the pure functions of its events part and of
merging and comparing rows.

A rollup row holds one local day (of the tenant's time zone) and one kind. It has two parts,
recomputed independently:

- the *sessions* part, from the sessions that were active during the day: a session counts
  toward every day it covered, with the time it covered that day (a session over midnight is
  split); a session still active counts its time so far, and one that is overdue counts as
  the sweep will close it (``lifecycle.sweep``), so a rollup never contradicts the lifecycle
  rules. A session is *active during the day* when it started that day or covered some of it.
  The database computes this part (``rollups/sessions_store.py``); the rollup tests hold it
  to a recomputation written independently.
- the *events* part, from the events made that day, counted under their session's kind
  (events sent without a session under ``NO_KIND``, whose ``users`` are those events' users).

Percentiles are nearest-rank (``domain.stats``): the smallest value that at least p% of the
values do not exceed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.events.rules import NO_KIND, EventType

TOP_NAMES = 10
STATUSES = tuple(status.value for status in Status)
EVENT_TYPES = tuple(event_type.value for event_type in EventType)
Window = tuple[int, int]  # [start, end) in epoch milliseconds


class Part(StrEnum):
    SESSIONS = "sessions"
    EVENTS = "events"


@dataclass(frozen=True, slots=True)
class TopName:
    type: str
    name: str
    count: int


def _zeros(names: Iterable[str]) -> dict[str, int]:
    return dict.fromkeys(names, 0)


@dataclass(frozen=True, slots=True)
class DayRow:
    """One rollup row: a day and a kind."""

    day: date
    kind: str
    sessions_started: int = 0
    sessions_active: int = 0
    users: int = 0
    duration_total_ms: int = 0
    # The part of the total from estimated ends, and where the true total lies.
    duration_estimated_ms: int = 0
    duration_low_ms: int = 0
    duration_high_ms: int = 0
    duration_p50_ms: int | None = None
    duration_p95_ms: int | None = None
    by_status: Mapping[str, int] = field(default_factory=lambda: _zeros(STATUSES))
    events_by_type: Mapping[str, int] = field(default_factory=lambda: _zeros(EVENT_TYPES))
    top_names: tuple[TopName, ...] = ()
    computed_at: int = 0

    @property
    def events_total(self) -> int:
        return sum(self.events_by_type.values())

    @property
    def duration_avg_ms(self) -> float | None:
        if not self.sessions_active:
            return None
        return self.duration_total_ms / self.sessions_active

    @property
    def is_empty(self) -> bool:
        return not (self.sessions_active or self.events_total or self.users)


# The fields of a row that its sessions part sets (``rollups/sessions_store.py``).
SESSION_FIELDS = (
    "sessions_started",
    "sessions_active",
    "users",
    "duration_total_ms",
    "duration_estimated_ms",
    "duration_low_ms",
    "duration_high_ms",
    "duration_p50_ms",
    "duration_p95_ms",
    "by_status",
)


def top_names(counts: Iterable[tuple[str, str, int]], limit: int = TOP_NAMES) -> list[TopName]:
    """The most frequent (type, name) pairs, most frequent first, then by type and name."""
    ordered = sorted(counts, key=lambda c: (-c[2], c[0], c[1]))
    return [TopName(type=t, name=n, count=c) for t, n, c in ordered[:limit]]


def summarise_events(
    counts: Iterable[tuple[str, str, str, int]], unattached_users: int
) -> dict[str, dict[str, Any]]:
    """The events part of every kind from (kind, type, name, count) of a day's events;
    ``unattached_users`` is how many users sent events without a session."""
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    names: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for kind, event_type, name, count in counts:
        by_type[kind][event_type] += count
        names[kind].append((event_type, name, count))
    parts: dict[str, dict[str, Any]] = {}
    for kind, types in by_type.items():
        parts[kind] = {
            "events_by_type": {**_zeros(EVENT_TYPES), **types},
            "top_names": tuple(top_names(names[kind])),
        }
    if unattached_users:
        parts.setdefault(NO_KIND, {"events_by_type": _zeros(EVENT_TYPES), "top_names": ()})
        parts[NO_KIND]["users"] = unattached_users
    return parts


def _part_fields(part: Part, kind: str) -> tuple[str, ...]:
    if part is Part.SESSIONS:
        return SESSION_FIELDS
    # ``users`` of the row of events without a session are those events' users.
    return (
        ("events_by_type", "top_names", "users")
        if kind == NO_KIND
        else (
            "events_by_type",
            "top_names",
        )
    )


def merge(
    day: date,
    existing: Iterable[DayRow],
    part: Part,
    values: Mapping[str, Mapping[str, Any]],
    now: int,
) -> list[DayRow]:
    """The day's rows after ``part`` was recomputed as ``values`` (by kind); the other part
    of every row stays as it was. Rows left empty are dropped."""
    rows = {row.kind: row for row in existing}
    merged = []
    for kind in sorted(set(rows) | set(values)):
        if part is Part.SESSIONS and kind == NO_KIND:
            if kind in rows:  # no session has this kind: the row is the events' alone
                merged.append(rows[kind])
            continue
        fields = _part_fields(part, kind)
        blank = DayRow(day=day, kind=kind)
        fresh = {name: getattr(blank, name) for name in fields}
        fresh.update(values.get(kind, {}))
        merged.append(replace(rows.get(kind, blank), **fresh, computed_at=now))
    return [row for row in merged if not row.is_empty]


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO weeks, from Monday
    MONTH = "month"


DayRange = tuple[date, date]  # first and last day, both included


def periods(period: Period, today: date) -> tuple[DayRange, DayRange]:
    """The current period up to ``today`` and the whole period before it."""
    if period is Period.DAY:
        first = today
        previous_first = today - timedelta(days=1)
    elif period is Period.WEEK:
        first = today - timedelta(days=today.weekday())
        previous_first = first - timedelta(days=7)
    else:
        first = today.replace(day=1)
        previous_first = (first - timedelta(days=1)).replace(day=1)
    return (first, today), (previous_first, first - timedelta(days=1))


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change from ``previous`` to ``current`` (0.25 is +25%); None from nothing."""
    if current is None or not previous:
        return None
    return current / previous - 1


def merge_events(rows: Iterable[DayRow]) -> tuple[dict[str, int], list[TopName]]:
    """Events by type and top names over several rows (top names from each row's own)."""
    by_type: Counter[str] = Counter(_zeros(EVENT_TYPES))
    names: Counter[tuple[str, str]] = Counter()
    for row in rows:
        by_type.update(row.events_by_type)
        names.update({(n.type, n.name): n.count for n in row.top_names})
    return dict(by_type), top_names((t, n, c) for (t, n), c in names.items())
