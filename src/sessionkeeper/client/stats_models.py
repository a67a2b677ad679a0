"""Typed results of ``/v1/sessions/stats`` (unknown fields are ignored)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sessionkeeper.client.models import Json, bounds_or_none


@dataclass(frozen=True, slots=True)
class StatsGroup:
    """The statistics of one group: its ``key`` is the kind, the UTC day (``2026-11-21``) or
    the subject field's value (None for sessions without that field)."""

    key: str | None
    total: int
    active: int
    ended: int
    timed_out: int
    expired: int
    total_duration_s: float
    estimated_s: float
    bounds_s: tuple[float, float]
    average_duration_s: float | None
    p50_duration_s: float | None
    p95_duration_s: float | None

    @classmethod
    def from_json(cls, data: Json) -> StatsGroup:
        return cls(key=data.get("key"), **_counts(data))


def _counts(data: Json) -> dict[str, Any]:
    return {
        "total": data["total"],
        "active": data["active"],
        "ended": data["ended"],
        "timed_out": data["timed_out"],
        "expired": data["expired"],
        "total_duration_s": float(data["total_duration_s"]),
        "estimated_s": float(data.get("estimated_s") or 0),
        "bounds_s": bounds_or_none(data.get("bounds_s")) or (0.0, 0.0),
        "average_duration_s": data.get("average_duration_s"),
        "p50_duration_s": data.get("p50_duration_s"),
        "p95_duration_s": data.get("p95_duration_s"),
    }


@dataclass(frozen=True, slots=True)
class SessionStats:
    """Counts and durations of the matching sessions, and per group when grouped.

    Overdue sessions the sweep has yet to close count as ``timed_out``; durations are those
    of closed sessions; percentiles are nearest-rank (always a measured duration)."""

    total: int
    active: int
    ended: int
    timed_out: int
    expired: int
    total_duration_s: float
    estimated_s: float
    bounds_s: tuple[float, float]
    average_duration_s: float | None
    p50_duration_s: float | None
    p95_duration_s: float | None
    group_by: str | None
    groups: tuple[StatsGroup, ...]
    truncated: bool

    @classmethod
    def from_json(cls, data: Json) -> SessionStats:
        return cls(
            **_counts(data),
            group_by=data.get("group_by"),
            groups=tuple(StatsGroup.from_json(group) for group in data.get("groups") or ()),
            truncated=bool(data.get("truncated", False)),
        )
