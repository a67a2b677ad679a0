"""The data-quality report: how sessions ended, and how much of their time is inferred.

Its input is partial sums, one per (group key, end reason), made of the end facts the rollups
keep per day, kind, source and end reason (``rollups/ends_rules.py``); every figure is a sum
or a ratio of sums, so stored days and live reads add up to the same answer as one pass over
the sessions. A session *loses its end* when nobody reported it: it was closed by timeout or by
cleanup, so its end is an estimate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.rollups.ends_rules import EndFact

# Ends that are estimates: nobody said when the session stopped.
LOST_ENDS = frozenset({EndReason.TIMEOUT, EndReason.CLEANUP})
# Groups listed as losing their ends most often.
WORST = 10


class GroupBy(StrEnum):
    KIND = "kind"
    SOURCE = "source"
    DAY = "day"  # the local day (the tenant's time zone) the session ended


@dataclass(frozen=True, slots=True)
class Partial:
    """Sums over the closed sessions of one group key and one end reason."""

    key: str
    reason: EndReason
    sessions: int
    time_ms: int
    estimated_ms: int
    bound_width_ms: int
    amended: int
    continuations: int


@dataclass(slots=True)
class ReasonTotals:
    sessions: int = 0
    time_ms: int = 0


@dataclass(slots=True)
class GroupReport:
    key: str
    sessions: int = 0
    time_ms: int = 0
    estimated_ms: int = 0
    bound_width_ms: int = 0
    amended: int = 0
    continuations: int = 0
    lost_ends: int = 0
    by_reason: dict[EndReason, ReasonTotals] = field(
        default_factory=lambda: {reason: ReasonTotals() for reason in EndReason}
    )

    @property
    def estimated_share(self) -> float | None:
        """The share of the time that comes from estimated ends."""
        return None if not self.time_ms else self.estimated_ms / self.time_ms

    @property
    def mean_bound_width_ms(self) -> float | None:
        return None if not self.sessions else self.bound_width_ms / self.sessions

    @property
    def lost_end_share(self) -> float | None:
        return None if not self.sessions else self.lost_ends / self.sessions

    def add(self, part: Partial) -> None:
        self.sessions += part.sessions
        self.time_ms += part.time_ms
        self.estimated_ms += part.estimated_ms
        self.bound_width_ms += part.bound_width_ms
        self.amended += part.amended
        self.continuations += part.continuations
        if part.reason in LOST_ENDS:
            self.lost_ends += part.sessions
        totals = self.by_reason[part.reason]
        totals.sessions += part.sessions
        totals.time_ms += part.time_ms


def _key(fact: EndFact, group_by: GroupBy) -> str:
    if group_by is GroupBy.KIND:
        return fact.kind
    if group_by is GroupBy.SOURCE:
        return fact.source
    return fact.day.isoformat()


def partials(facts: Iterable[EndFact], group_by: GroupBy) -> list[Partial]:
    """The end facts as partial sums of their group (kind, source or day)."""
    return [
        Partial(
            key=_key(fact, group_by),
            reason=fact.reason,
            sessions=fact.sessions,
            time_ms=fact.time_ms,
            estimated_ms=fact.estimated_ms,
            bound_width_ms=fact.bound_width_ms,
            amended=fact.amended,
            continuations=fact.continuations,
        )
        for fact in facts
    ]


def report(partials: Iterable[Partial]) -> list[GroupReport]:
    """The groups, by key."""
    groups: dict[str, GroupReport] = {}
    for part in partials:
        groups.setdefault(part.key, GroupReport(part.key)).add(part)
    return [groups[key] for key in sorted(groups)]


def worst(groups: Iterable[GroupReport], limit: int = WORST) -> list[GroupReport]:
    """The groups whose sessions lose their end most often (ties: the larger first)."""
    losing = [g for g in groups if g.lost_ends]
    return sorted(losing, key=lambda g: (-(g.lost_end_share or 0), -g.sessions, g.key))[:limit]
