"""Pure rules of outcomes and streaks: no I/O, ``now`` passed in.

Outcomes. A session's outcome holds ``metrics`` (scores: any finite number), ``counters``
(whole numbers ≥ 0), ``tags`` (per field, a list of short strings) and free ``metadata``.
When a tenant defines metrics, every metric of an outcome must be defined and within its
``[min, max]``; a tenant with no definitions accepts any metric.

Streaks. A user's *streak day* starts at ``day_start`` (minutes after local midnight, in the
user's time zone) and lasts until the next one, so a late-night session before a 04:00 day
start counts for the evening before. A day is *active* when the user's sessions overlap it by
at least ``min_minutes``. The current streak counts the active days in a row up to today — or
up to yesterday while today is not active yet, since today can still be saved.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

MS_PER_MINUTE = 60_000


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    name: str
    min: float
    max: float
    unit: str | None = None
    higher_is_better: bool = True


def metric_problem(
    name: str, value: float, definitions: Mapping[str, MetricDefinition]
) -> str | None:
    """Why ``value`` is not acceptable for the metric ``name``, or None when it is."""
    if not math.isfinite(value):
        return f"metric '{name}' must be a finite number"
    if not definitions:
        return None
    found = definitions.get(name)
    if found is None:
        known = ", ".join(sorted(definitions))
        return f"metric '{name}' is not defined for this tenant (defined: {known})"
    if not found.min <= value <= found.max:
        return f"metric '{name}' is {value}, outside its range [{found.min}, {found.max}]"
    return None


# Streaks.


@dataclass(frozen=True, slots=True)
class StreakRules:
    timezone: zoneinfo.ZoneInfo
    day_start_minutes: int = 0
    min_minutes: float = 1.0


@dataclass(frozen=True, slots=True)
class Streaks:
    current: int
    longest: int
    active_last_7: int
    active_last_30: int
    today: date


def streak_day_start(day: date, rules: StreakRules) -> int:
    """The first instant (epoch ms) of the streak day ``day``.

    Built as the local wall time ``day`` + ``day_start``; zoneinfo reads a time that a DST gap
    skips with the offset before the gap, so the day then starts at the change itself.
    """
    hours, minutes = divmod(rules.day_start_minutes, 60)
    local = datetime.combine(day, time(hours, minutes), tzinfo=rules.timezone)
    return round(local.timestamp() * 1000)


def streak_day_of(at_ms: int, rules: StreakRules) -> date:
    """The streak day an instant belongs to."""
    local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(rules.timezone)
    shifted = local.replace(tzinfo=None) - timedelta(minutes=rules.day_start_minutes)
    return shifted.date()


def minutes_per_day(spans: Iterable[tuple[int, int]], rules: StreakRules) -> dict[date, float]:
    """Minutes of activity per streak day; a span across a day boundary is split at it."""
    found: dict[date, float] = {}
    for start, end in spans:
        if end <= start:
            continue
        day = streak_day_of(start, rules)
        while True:
            day_end = streak_day_start(day + timedelta(days=1), rules)
            piece_end = min(end, day_end)
            if piece_end > start:
                found[day] = found.get(day, 0.0) + (piece_end - start) / MS_PER_MINUTE
            if end <= day_end:
                break
            start = day_end
            day += timedelta(days=1)
    return found


def streaks(spans: Sequence[tuple[int, int]], rules: StreakRules, now_ms: int) -> Streaks:
    """Current and longest streak, and the active days of the last 7 and 30 (today included)."""
    per_day = minutes_per_day(spans, rules)
    active = {day for day, minutes in per_day.items() if minutes >= rules.min_minutes}
    today = streak_day_of(now_ms, rules)
    day = today if today in active else today - timedelta(days=1)
    current = 0
    while day in active:
        current += 1
        day -= timedelta(days=1)
    longest = 0
    run = 0
    previous: date | None = None
    for day in sorted(d for d in active if d <= today):
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        longest = max(longest, run)
        previous = day
    return Streaks(
        current=current,
        longest=longest,
        active_last_7=sum(1 for d in active if timedelta(0) <= today - d < timedelta(days=7)),
        active_last_30=sum(1 for d in active if timedelta(0) <= today - d < timedelta(days=30)),
        today=today,
    )


def parse_day_start(value: str) -> int:
    """``"04:30"`` as minutes after midnight; ValueError when it is no such time."""
    hours, sep, minutes = value.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(minutes) != 2:
        raise ValueError("day_start must be a time of day as HH:MM, like 04:00")
    h, m = int(hours), int(minutes)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError("day_start must be a time of day as HH:MM, like 04:00")
    return h * 60 + m
