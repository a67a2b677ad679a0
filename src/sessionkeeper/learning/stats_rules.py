"""Pure rules of a user's statistics over a period, and the comparison with the one before.

A period is the last 7 (``week``) or 30 (``month``) local days of the user's time zone, today
included; the previous period is the same number of days just before it. A session belongs to
the day its start falls on. Durations count closed sessions only (an active session has none
yet); averages are over the sessions that have the value.
"""

from __future__ import annotations

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
class KindTotals:
    kind: str
    sessions: int
    total_duration_s: float
    average_duration_s: float | None


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
    metrics: list[MetricSummary]
    counters: dict[str, int]
    tags: dict[str, list[tuple[str, int]]]


def _avg(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def totals(sessions: Sequence[SessionFacts], tz: zoneinfo.ZoneInfo) -> Totals:
    """The statistics of ``sessions`` (those of one period)."""
    durations = [s.duration_ms / 1000 for s in sessions if s.duration_ms is not None]
    kinds: dict[str, list[SessionFacts]] = {}
    for s in sessions:
        kinds.setdefault(s.kind, []).append(s)
    by_kind = []
    for kind in sorted(kinds):
        of_kind = [s.duration_ms / 1000 for s in kinds[kind] if s.duration_ms is not None]
        by_kind.append(KindTotals(kind, len(kinds[kind]), round(sum(of_kind), 3), _avg(of_kind)))
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
    return Totals(
        sessions=len(sessions),
        total_duration_s=round(sum(durations), 3),
        average_duration_s=_avg(durations),
        by_kind=by_kind,
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
