"""Session statistics: what is counted, how sessions are grouped, and what a percentile is.

Counts read each session as the lifecycle rules say it stands at the time of the read: a
session overdue but not yet swept counts as ``timed_out``, with its estimated end as its end.
Durations are those of closed sessions (``ended``, ``timed_out``, ``expired``); an active
session has no duration yet.

**Percentiles** are *nearest-rank*: of the ``n`` closed durations in ascending order, the
``p``-th percentile is the one at rank ``ceil(p * n / 100)`` (1-based). It is always one of
the measured durations, never an interpolation, and it is computed by the same integer
arithmetic in SQLite and PostgreSQL (``storage/session_stats.py``), so both give the same
answer. :func:`nearest_rank` is that definition in Python; the tests hold the SQL to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sessionkeeper.domain.subject import SUBJECT_PREFIX, is_subject_field
from sessionkeeper.errors import InvalidInput

PERCENTILES = (50, 95)
DAY_MS = 86_400_000
# Most groups one answer carries; beyond that ``truncated`` says the list was cut.
MAX_GROUPS = 1000


def nearest_rank_index(percent: int, n: int) -> int:
    """The 1-based rank of the ``percent``-th percentile among ``n`` sorted values."""
    return (percent * n + 99) // 100


def nearest_rank(sorted_values: Sequence[int], percent: int) -> int | None:
    """The ``percent``-th percentile of ascending ``sorted_values`` (None when empty)."""
    if not sorted_values:
        return None
    return sorted_values[nearest_rank_index(percent, len(sorted_values)) - 1]


class Grouping(StrEnum):
    KIND = "kind"
    DAY = "day"  # the UTC day the session started
    SUBJECT = "subject"  # one subject field


@dataclass(frozen=True, slots=True)
class GroupBy:
    grouping: Grouping
    subject_field: str | None = None

    @property
    def name(self) -> str:
        if self.grouping is Grouping.SUBJECT:
            return f"{SUBJECT_PREFIX}{self.subject_field}"
        return self.grouping.value

    @classmethod
    def parse(cls, raw: str) -> GroupBy:
        """``kind``, ``day`` or ``subject.<field>``."""
        if raw.startswith(SUBJECT_PREFIX) and is_subject_field(raw[len(SUBJECT_PREFIX) :]):
            return cls(Grouping.SUBJECT, raw[len(SUBJECT_PREFIX) :])
        if raw in (Grouping.KIND.value, Grouping.DAY.value):
            return cls(Grouping(raw))
        raise InvalidInput("group_by must be kind, day or subject.<field>", field="group_by")


@dataclass(frozen=True, slots=True)
class Counts:
    """The statistics of one group of sessions (or of all of them). Durations in ms."""

    total: int = 0
    active: int = 0
    ended: int = 0
    timed_out: int = 0
    expired: int = 0
    total_duration_ms: int = 0
    # The part of the total that comes from estimated ends, and where the true total lies
    # (the sums of the sessions' ``duration_bounds``).
    estimated_duration_ms: int = 0
    bounds_ms: tuple[int, int] = (0, 0)
    p50_duration_ms: int | None = None
    p95_duration_ms: int | None = None

    @property
    def closed(self) -> int:
        return self.ended + self.timed_out + self.expired

    @property
    def average_duration_ms(self) -> float | None:
        return self.total_duration_ms / self.closed if self.closed else None


@dataclass(frozen=True, slots=True)
class Group:
    """A group's key: the kind, the day (``2026-11-21``) or the subject field's value (None
    for sessions without that field)."""

    key: str | None
    counts: Counts


@dataclass(frozen=True, slots=True)
class SessionStats:
    overall: Counts
    group_by: GroupBy | None = None
    groups: tuple[Group, ...] = ()
    truncated: bool = False
