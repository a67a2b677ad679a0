"""Conversions between API datetimes and stored epoch milliseconds.

Times are stored as integer milliseconds since the epoch (UTC) so that ``last_seen_at +
timeout`` and ``min(last_seen_at + grace, now)`` are plain integer arithmetic inside one
conditional UPDATE, identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

MS_PER_S = 1000
# What every accepted time string starts with; a bare number would be ambiguous (s or ms?).
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


# The instants a stored time may hold: those whose millisecond has a date in UTC, so that
# every stored time can be spelled back (``from_ms``).
MIN_MS = round(datetime(1, 1, 1, tzinfo=UTC).timestamp() * MS_PER_S)
MAX_MS = round(datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp() * MS_PER_S)


def to_ms(value: datetime) -> int:
    return round(value.timestamp() * MS_PER_S)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms_up(value: datetime) -> int:
    """Epoch milliseconds of ``value``, a fraction of a millisecond rounded up: the first
    stored time at or after it, so that a bound ``>= value`` or ``< value`` on stored times
    holds exactly (rounded to the nearest, ``…00.0004`` would take in ``…00.000``)."""
    return -(-_micros(value) // 1000)


def to_ms_down(value: datetime) -> int:
    """Epoch milliseconds of ``value``, a fraction of a millisecond dropped: the last stored
    time at or before it, for a bound ``> value`` or ``<= value``."""
    return _micros(value) // 1000


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def seconds_of(ms: float | None) -> float | None:
    """Milliseconds as the API's seconds; None stays None (a figure not known, or withheld)."""
    return None if ms is None else ms / MS_PER_S


def from_ms(value: int) -> datetime:
    # Exact: ``fromtimestamp(value / 1000)`` goes through a float, which near the year 9999
    # no longer holds the millisecond (…59.999 came back as …59.998993).
    return _EPOCH + timedelta(milliseconds=value)


def api_time(ms: int) -> str:
    """A stored time as every JSON answer spells a time: ISO 8601 in UTC with a ``Z``, the
    fraction only when there is one (``2026-11-21T10:00:00Z``, ``…T10:00:00.250000Z``), as
    pydantic writes the models' datetimes. For answers built without a model."""
    return from_ms(ms).isoformat().replace("+00:00", "Z")


def iso_z(ms: int) -> str:
    """UTC ISO 8601 with milliseconds and a ``Z``: ``2026-11-21T10:00:00.000Z``."""
    # time.gmtime, not datetime: an export formats millions of these.
    seconds, millis = divmod(ms, MS_PER_S)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
