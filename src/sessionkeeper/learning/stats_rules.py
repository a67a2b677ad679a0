"""Pure rules of a user's statistics over a period, and the comparison with the one before.

A period is the last 7 (``week``) or 30 (``month``) local days of the user's time zone, today
included; the previous period is the same number of days just before it. A session belongs to
the day its start falls on. Durations count closed sessions only (an active session has none
yet); averages are over the sessions that have the value.

Every duration total comes with how far it can be trusted, as the kernel's statistics give it
(``domain/stats.py``): ``estimated_s``, the part of the total from estimated ends (timeout,
cleanup), and ``bounds_s``, the sums of the sessions' duration bounds — each session's own
bounds are the kernel's rule (``lifecycle.duration_bounds``), handed in with its facts, never
worked out again here. A total of exact ends only has ``bounds_s == (total, total)``.
"""

from __future__ import annotations

import math
import zoneinfo
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sessionkeeper.settings.rules import day_of, day_start

PERIOD_DAYS = {"week": 7, "month": 30}
# Tags listed per field: the most frequent first.
TOP_TAGS = 10


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What the statistics read of one session and its outcome."""

    id: str
    kind: str
    started_at: int
    duration_ms: int | None
    # Where the true duration lies (``Session.duration_bounds_ms``); None while open.
    duration_bounds_ms: tuple[int, int] | None = None
    # The end is an estimate (timeout, cleanup): the duration counts towards ``estimated_s``.
    estimated: bool = False
    metrics: Mapping[str, float] = field(default_factory=dict)
    counters: Mapping[str, int] = field(default_factory=dict)
    tags: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Window:
    first: date
    last: date
    start_ms: int
    end_ms: int


def window(today: date, days: int, tz: zoneinfo.ZoneInfo) -> Window:
    first = today - timedelta(days=days - 1)
    return Window(first, today, day_start(first, tz), day_start(today + timedelta(days=1), tz))


def previous(current: Window, tz: zoneinfo.ZoneInfo) -> Window:
    days = (current.last - current.first).days + 1
    return window(current.first - timedelta(days=1), days, tz)


@dataclass(frozen=True, slots=True)
class Durations:
    """The sums of closed sessions' durations, in ms: the total, its part from estimated
    ends, and where the true total lies."""

    total_ms: int = 0
    estimated_ms: int = 0
    low_ms: int = 0
    high_ms: int = 0

    @property
    def total_s(self) -> float:
        return _seconds(self.total_ms)

    @property
    def estimated_s(self) -> float:
        return _seconds(self.estimated_ms)

    @property
    def bounds_s(self) -> tuple[float, float]:
        return _seconds(self.low_ms), _seconds(self.high_ms)


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)


def durations(sessions: Sequence[SessionFacts]) -> Durations:
    """The duration sums of ``sessions``; open ones (no duration, no bounds) add nothing.

    A closed session's bounds are its own (the kernel's rule); one closed without them (not
    expected: every closed session has bounds) counts as exact."""
    total = estimated = low = high = 0
    for s in sessions:
        if s.duration_ms is None:
            continue
        total += s.duration_ms
        if s.estimated:
            estimated += s.duration_ms
        bounds = s.duration_bounds_ms or (s.duration_ms, s.duration_ms)
        low += bounds[0]
        high += bounds[1]
    return Durations(total, estimated, low, high)


@dataclass(frozen=True, slots=True)
class KindTotals:
    kind: str
    sessions: int
    total_duration_s: float
    average_duration_s: float | None
    estimated_s: float = 0.0
    bounds_s: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class MetricSummary:
    name: str
    average: float
    count: int
    # (day, average of that day) for each day of the period with a value.
    trend: list[tuple[date, float]]


@dataclass(frozen=True, slots=True)
class Totals:
    sessions: int
    total_duration_s: float
    average_duration_s: float | None
    by_kind: list[KindTotals]
    estimated_s: float
    bounds_s: tuple[float, float]
    metrics: list[MetricSummary]
    counters: dict[str, int]
    tags: dict[str, list[tuple[str, int]]]


def _avg(values: Sequence[float]) -> float | None:
    if not values:
        return None
    total = sum(values)
    if math.isfinite(total):
        return round(total / len(values), 3)
    # Values near the float limit (1e308) overflow their sum, not their mean.
    return round(sum(value / len(values) for value in values), 3)


def totals(sessions: Sequence[SessionFacts], tz: zoneinfo.ZoneInfo) -> Totals:
    """The statistics of ``sessions`` (those of one period)."""
    closed = [s.duration_ms / 1000 for s in sessions if s.duration_ms is not None]
    kinds: dict[str, list[SessionFacts]] = {}
    for s in sessions:
        kinds.setdefault(s.kind, []).append(s)
    by_kind = []
    for kind in sorted(kinds):
        of_kind = [s.duration_ms / 1000 for s in kinds[kind] if s.duration_ms is not None]
        sums = durations(kinds[kind])
        by_kind.append(
            KindTotals(
                kind,
                len(kinds[kind]),
                sums.total_s,
                _avg(of_kind),
                estimated_s=sums.estimated_s,
                bounds_s=sums.bounds_s,
            )
        )
    values: dict[str, list[tuple[date, float]]] = {}
    counters: Counter[str] = Counter()
    tags: dict[str, Counter[str]] = {}
    for s in sessions:
        day = day_of(s.started_at, tz)
        for name, value in s.metrics.items():
            values.setdefault(name, []).append((day, value))
        counters.update(s.counters)
        for tag_field, items in s.tags.items():
            tags.setdefault(tag_field, Counter()).update(items)
    metrics = []
    for name in sorted(values):
        by_day: dict[date, list[float]] = {}
        for day, value in values[name]:
            by_day.setdefault(day, []).append(value)
        trend = [(day, _avg(v) or 0.0) for day, v in sorted(by_day.items())]
        average = _avg([v for _, v in values[name]])
        metrics.append(MetricSummary(name, average or 0.0, len(values[name]), trend))
    overall = durations(sessions)
    return Totals(
        sessions=len(sessions),
        total_duration_s=overall.total_s,
        average_duration_s=_avg(closed),
        by_kind=by_kind,
        estimated_s=overall.estimated_s,
        bounds_s=overall.bounds_s,
        metrics=metrics,
        counters=dict(sorted(counters.items())),
        tags={
            name: sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_TAGS]
            for name, counts in sorted(tags.items())
        },
    )


@dataclass(frozen=True, slots=True)
class Change:
    sessions: int
    total_duration_s: float
    # Per metric: the period's average minus the previous period's (both must exist).
    metrics: dict[str, float]
    counters: dict[str, int]


def change(current: Totals, before: Totals) -> Change:
    earlier = {m.name: m.average for m in before.metrics}
    return Change(
        sessions=current.sessions - before.sessions,
        total_duration_s=round(current.total_duration_s - before.total_duration_s, 3),
        metrics={
            m.name: round(m.average - earlier[m.name], 3)
            for m in current.metrics
            if m.name in earlier
        },
        counters={
            name: current.counters.get(name, 0) - before.counters.get(name, 0)
            for name in sorted(set(current.counters) | set(before.counters))
        },
    )
