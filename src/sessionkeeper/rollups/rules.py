"""What a rollup counts, as pure functions: the specification the tests check storage against.

A rollup row holds one local day (of the tenant's time zone) and one kind. It has two parts,
recomputed independently:

- the *sessions* part, from the sessions that were active during the day: a session counts
  toward every day it covered, with the time it covered that day (a session over midnight is
  split); a session still active counts its time so far, and one that is overdue counts as
  the sweep will close it (``lifecycle.sweep``), so a rollup never contradicts the lifecycle
  rules. A session is *active during the day* when it started that day or covered some of it.
- the *events* part, from the events made that day, counted under their session's kind
  (events sent without a session under ``NO_KIND``, whose ``users`` are those events' users).

Percentiles are nearest-rank: the smallest value that at least p% of the values do not exceed.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.lifecycle import EndReason, Lifecycle, Status
from sessionkeeper.events.rules import NO_KIND, EventType

TOP_NAMES = 10
STATUSES = tuple(status.value for status in Status)
EVENT_TYPES = tuple(event_type.value for event_type in EventType)
Window = tuple[int, int]  # [start, end) in epoch milliseconds


class Part(StrEnum):
    SESSIONS = "sessions"
    EVENTS = "events"


@dataclass(frozen=True, slots=True)
class Span:
    """A session as a rollup reads it."""

    kind: str
    user_id: str
    status: Status
    started_at: int
    ended_at: int | None
    last_seen_at: int
    expires_at: int
    timeout_ms: int
    grace_ms: int
    end_reason: EndReason | None = None
    estimated: bool = False
    interval_ms: int = 0

    def state(self, now: int) -> Lifecycle:
        """As of ``now``: an overdue session where the sweep will close it."""
        return lifecycle.sweep(
            Lifecycle(
                status=self.status,
                started_at=self.started_at,
                last_seen_at=self.last_seen_at,
                expires_at=self.expires_at,
                timeout_ms=self.timeout_ms,
                grace_ms=self.grace_ms,
                ended_at=self.ended_at,
                end_reason=self.end_reason,
                estimated=self.estimated,
            ),
            now,
        )

    def settled(self, now: int) -> tuple[Status, int]:
        """Its status and end as of ``now``: an open session ends now (its time so far), an
        overdue one where the sweep will close it."""
        state = self.state(now)
        end = now if state.ended_at is None else state.ended_at
        return state.status, max(end, self.started_at)

    def ends(self, now: int) -> tuple[int, int, bool]:
        """(earliest, latest, estimated): where its end lies as of ``now``
        (``lifecycle.duration_bounds``; an open session's time so far is known exactly)."""
        state = self.state(now)
        bounds = lifecycle.duration_bounds(state, self.interval_ms)
        if bounds is None:
            end = max(now, self.started_at)
            return end, end, False
        return self.started_at + bounds[0], self.started_at + bounds[1], state.estimated


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


def percentile(ordered: list[int], p: int) -> int | None:
    """Nearest-rank percentile of values sorted ascending (None for none)."""
    if not ordered:
        return None
    rank = -(-p * len(ordered) // 100)  # ceil(p * n / 100), in integers
    return ordered[max(rank, 1) - 1]


@dataclass(slots=True)
class _Tally:
    started: int = 0
    # 8 bytes a session (a list would hold an int object each): the percentiles need them all.
    durations: array[int] = field(default_factory=lambda: array("q"))
    estimated: int = 0
    low: int = 0
    high: int = 0
    users: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)

    def values(self) -> dict[str, Any]:
        ordered = sorted(self.durations)
        return {
            "sessions_started": self.started,
            "sessions_active": len(ordered),
            "users": len(self.users),
            "duration_total_ms": sum(ordered),
            "duration_estimated_ms": self.estimated,
            "duration_low_ms": self.low,
            "duration_high_ms": self.high,
            "duration_p50_ms": percentile(ordered, 50),
            "duration_p95_ms": percentile(ordered, 95),
            "by_status": {**_zeros(STATUSES), **self.statuses},
        }


def by_kind(span: Span) -> str:
    return span.kind


def _active_during(span: Span, window: Window, ended: int) -> bool:
    """Started during the window, or covered some of it (``ended``: its end as settled)."""
    start, end = window
    return start <= span.started_at < end or min(ended, end) > max(span.started_at, start)


def summarise_sessions(
    spans: Iterable[Span],
    window: Window,
    now: int,
    key: Callable[[Span], str] = by_kind,
) -> dict[str, dict[str, Any]]:
    """The sessions part of every group (by ``key``: the kind) over ``window``."""
    return {group: tally.values() for group, tally in _tallies(spans, window, now, key).items()}


def summarise_day(
    spans: Iterable[Span], window: Window, now: int
) -> tuple[dict[str, dict[str, Any]], int]:
    """The sessions part of every kind over ``window``, and the distinct users over all
    kinds: a user of two kinds is one user, where the rows per kind count them once each."""
    tallies = _tallies(spans, window, now, by_kind)
    users = set().union(*(tally.users for tally in tallies.values()))
    return {kind: tally.values() for kind, tally in tallies.items()}, len(users)


def _tallies(
    spans: Iterable[Span], window: Window, now: int, key: Callable[[Span], str]
) -> dict[str, _Tally]:
    start, end = window
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for span in spans:
        status, ended = span.settled(now)
        started_inside = start <= span.started_at < end
        covered = max(0, min(ended, end) - max(span.started_at, start))
        if not _active_during(span, window, ended):
            continue
        tally = tallies[key(span)]
        tally.started += started_inside
        tally.durations.append(covered)
        earliest, latest, estimated = span.ends(now)
        # Its share of the day's bounds: the day's part of [start, earliest end] and of
        # [start, latest end].
        tally.low += max(0, min(earliest, end) - max(span.started_at, start))
        tally.high += max(0, min(latest, end) - max(span.started_at, start))
        tally.estimated += covered if estimated else 0
        tally.users.add(span.user_id)
        tally.statuses[status.value] += 1
    return tallies


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
        return tuple(_Tally().values())
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
