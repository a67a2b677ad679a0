"""Time zones of tenants (and, later, of users): names, local days and their windows.

Days are calendar days in an IANA time zone. A day's window is ``[start, end)`` in epoch
milliseconds, from the first instant whose local date is that day to the first instant of the
next; on a DST change a day lasts 23 or 25 hours, and consecutive windows still cover time
without gap or overlap. Pure: no I/O beyond the time zone database.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

DEFAULT_TIMEZONE = "UTC"
MS_PER_S = 1000
MS_PER_DAY = 86_400_000


# Files of the system's zone directory that are no IANA zone: ``localtime`` is the host's own
# zone (a link to /etc/localtime), which would make a tenant's days the server's.
_NOT_ZONES = frozenset({"localtime"})


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES


def timezone_error(name: str) -> str | None:
    """Why ``name`` is not a time zone a tenant can use, or None when it is one."""
    if name == DEFAULT_TIMEZONE or name in _known_zones():
        return None
    return f"'{name}' is not an IANA time zone name (like 'Europe/Prague' or 'UTC')"


@functools.cache
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The time zone called ``name``; ValueError when there is none."""
    error = timezone_error(name)
    if error is not None:
        raise ValueError(error)
    return zoneinfo.ZoneInfo(name)


def day_of(at_ms: int, tz: zoneinfo.ZoneInfo) -> date:
    """The local date of an instant."""
    return datetime.fromtimestamp(at_ms / MS_PER_S, tz=UTC).astimezone(tz).date()


def day_start(day: date, tz: zoneinfo.ZoneInfo) -> int:
    """The first instant (epoch ms) of ``day`` in ``tz``.

    Where midnight does not exist (a DST gap at midnight), zoneinfo reads it with the offset
    before the gap, which is the instant of the change: the day starts when it begins.
    """
    local = datetime.combine(day, time(0), tzinfo=tz)
    return round(local.timestamp() * MS_PER_S)


def day_window(day: date, tz: zoneinfo.ZoneInfo) -> tuple[int, int]:
    """``[start, end)`` of ``day`` in epoch milliseconds."""
    start = day_start(day, tz)
    if day == date.max:
        # The next midnight is in the year 10000, which no date holds; no zone changes its
        # offset on the last night of 9999.
        return start, start + MS_PER_DAY
    return start, day_start(day + timedelta(days=1), tz)


def days(first: date, last: date) -> Iterator[date]:
    """Every day from ``first`` to ``last``, both included."""
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def days_touched(start_ms: int, end_ms: int, tz: zoneinfo.ZoneInfo) -> list[date]:
    """The local days that the span ``[start_ms, end_ms]`` touches, in order."""
    return list(days(day_of(start_ms, tz), day_of(max(start_ms, end_ms), tz)))
