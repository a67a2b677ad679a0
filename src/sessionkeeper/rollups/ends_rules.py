"""How the sessions that ended on a day ended, as sums that add up across days, kinds and
sources: what the data-quality report and the duration histogram are made of.

An ``EndFact`` sums the sessions of one local day (the day of their end, in the tenant's time
zone), kind, source and end reason. Every figure is a plain sum, so the facts of stored past
days and the facts read live (today, days not yet refreshed, open sessions read as the sweep
will close them) add up to exactly what one pass over the sessions gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sessionkeeper.domain.lifecycle import EndReason

# Upper bounds (seconds) of the duration histogram's buckets; the last bucket is open.
# Stored in the rollups: changing them needs ``sessionkeeper rollup --rebuild``.
DURATION_BUCKETS_S: tuple[int, ...] = (60, 300, 900, 1800, 3600, 4 * 3600)
BUCKETS = len(DURATION_BUCKETS_S) + 1
# The source of sessions started through the API, not by a presence source or a link.
NO_SOURCE = "api"


def bucket_of(duration_ms: int, bounds_s: Sequence[int] = DURATION_BUCKETS_S) -> int:
    """The histogram bucket of a duration: the first bound it lies below, else the last."""
    for index, bound in enumerate(bounds_s):
        if duration_ms < bound * 1000:
            return index
    return len(bounds_s)


@dataclass(frozen=True, slots=True)
class EndFact:
    """Sums over the closed sessions of one day, kind, source and end reason."""

    day: date
    kind: str
    source: str
    reason: EndReason
    sessions: int
    time_ms: int
    estimated_ms: int
    bound_width_ms: int
    amended: int
    continuations: int
    duration_buckets: tuple[int, ...]

    @property
    def key(self) -> tuple[date, str, str, EndReason]:
        return (self.day, self.kind, self.source, self.reason)

    def plus(self, other: EndFact) -> EndFact:
        return EndFact(
            day=self.day,
            kind=self.kind,
            source=self.source,
            reason=self.reason,
            sessions=self.sessions + other.sessions,
            time_ms=self.time_ms + other.time_ms,
            estimated_ms=self.estimated_ms + other.estimated_ms,
            bound_width_ms=self.bound_width_ms + other.bound_width_ms,
            amended=self.amended + other.amended,
            continuations=self.continuations + other.continuations,
            duration_buckets=tuple(
                a + b for a, b in zip(self.duration_buckets, other.duration_buckets, strict=True)
            ),
        )


def combine(facts: Iterable[EndFact]) -> list[EndFact]:
    """Facts of the same day, kind, source and reason summed into one, in key order."""
    by_key: dict[tuple[date, str, str, EndReason], EndFact] = {}
    for fact in facts:
        before = by_key.get(fact.key)
        by_key[fact.key] = fact if before is None else before.plus(fact)
    return [by_key[key] for key in sorted(by_key)]


def histogram(facts: Iterable[EndFact]) -> list[int]:
    """Sessions per duration bucket over all the facts."""
    counts = [0] * BUCKETS
    for fact in facts:
        for index, n in enumerate(fact.duration_buckets):
            counts[index] += n
    return counts


def live_days(first: date, today: date, dirty: Iterable[date]) -> list[tuple[date, date]]:
    """The runs of days ``[first, today]`` read live, as (first, last) pairs: the days whose
    rollups wait for a refresh, and today, which is not over."""
    wanted = sorted({day for day in dirty if first <= day < today} | {today})
    runs: list[tuple[date, date]] = []
    for day in wanted:
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
