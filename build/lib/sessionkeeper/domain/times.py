"""Conversions between API datetimes and stored epoch milliseconds.

Times are stored as integer milliseconds since the epoch (UTC) so that ``last_seen_at +
timeout`` and ``min(last_seen_at + grace, now)`` are plain integer arithmetic inside one
conditional UPDATE, identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

MS_PER_S = 1000


def to_ms(value: datetime) -> int:
    return round(value.timestamp() * MS_PER_S)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / MS_PER_S, tz=UTC)
