"""Typed results of the analytics API: activity events, daily metrics, summaries, live
counts, the tenant's settings. Frozen dataclasses read from the API's JSON, like ``models``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, NotRequired, TypedDict

from sessionkeeper.client.models import Json, parse_time

EventType = Literal["page_view", "action", "custom"]
EventOutcomeName = Literal["stored", "duplicate", "session_not_found", "invalid"]


class NewEvent(TypedDict):
    """An event to send; without ``event_id`` the client makes one (kept across retries)."""

    user_id: str
    type: EventType
    name: str
    event_id: NotRequired[str]
    session_id: NotRequired[str | None]
    properties: NotRequired[dict[str, Any] | None]
    at: NotRequired[datetime | None]


@dataclass(frozen=True, slots=True)
class EventOutcome:
    event_id: str | None
    outcome: EventOutcomeName
    field: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EventBatchResult:
    """One outcome per event sent, in order, and how many of each."""

    results: tuple[EventOutcome, ...]
    stored: int
    duplicate: int
    session_not_found: int
    invalid: int

    @classmethod
    def from_json(cls, data: Json) -> EventBatchResult:
        return cls(
            results=tuple(
                EventOutcome(
                    event_id=item.get("event_id"),
                    outcome=item["outcome"],
                    field=item.get("field"),
                    reason=item.get("reason"),
                )
                for item in data["results"]
            ),
            stored=data["stored"],
            duplicate=data["duplicate"],
            session_not_found=data["session_not_found"],
            invalid=data["invalid"],
        )


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    session_id: str | None
    user_id: str
    type: EventType
    name: str
    properties: Mapping[str, Any] | None
    at: datetime
    received_at: datetime

    @classmethod
    def from_json(cls, data: Json) -> Event:
        return cls(
            event_id=data["event_id"],
            session_id=data.get("session_id"),
            user_id=data["user_id"],
            type=data["type"],
            name=data["name"],
            properties=data.get("properties"),
            at=parse_time(data["at"]),
            received_at=parse_time(data["received_at"]),
        )


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events, newest first; ``next_cursor`` is None on the last page."""

    items: tuple[Event, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Json) -> EventPage:
        return cls(
            items=tuple(Event.from_json(item) for item in data["items"]),
            next_cursor=data.get("next_cursor"),
        )


@dataclass(frozen=True, slots=True)
class TopName:
    type: str
    name: str
    count: int


def _bounds(value: list[float] | None, total: float) -> tuple[float, float]:
    return (float(total), float(total)) if value is None else (float(value[0]), float(value[1]))


def _aggregates(data: Json) -> dict[str, Any]:
    """The fields a day and a period share."""
    return {
        "sessions_started": data["sessions_started"],
        "sessions_active": data["sessions_active"],
        "users": data["users"],
        "duration_total_s": data["duration_total_s"],
        "estimated_s": float(data.get("estimated_s") or 0),
        "bounds_s": _bounds(data.get("bounds_s"), data["duration_total_s"]),
        "duration_avg_s": data.get("duration_avg_s"),
        "duration_p50_s": data.get("duration_p50_s"),
        "duration_p95_s": data.get("duration_p95_s"),
        "by_status": dict(data.get("by_status") or {}),
        "events_by_type": dict(data.get("events_by_type") or {}),
        "top_names": tuple(
            TopName(type=n["type"], name=n["name"], count=n["count"])
            for n in data.get("top_names") or ()
        ),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Aggregates:
    """What a day's row and a period have in common."""

    sessions_started: int
    sessions_active: int
    users: int
    duration_total_s: float
    # The part of the total from estimated ends, and where the true total lies.
    estimated_s: float
    bounds_s: tuple[float, float]
    duration_avg_s: float | None
    duration_p50_s: float | None
    duration_p95_s: float | None
    by_status: Mapping[str, int]
    events_by_type: Mapping[str, int]
    top_names: tuple[TopName, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyRow(Aggregates):
    """One day and kind (``kind`` None: the events sent without a session)."""

    day: date
    kind: str | None
    computed_at: datetime

    @classmethod
    def from_json(cls, data: Json) -> DailyRow:
        return cls(
            day=date.fromisoformat(data["day"]),
            kind=data.get("kind"),
            computed_at=parse_time(data["computed_at"]),
            **_aggregates(data),
        )


@dataclass(frozen=True, slots=True)
class DailyMetrics:
    timezone: str
    from_day: date
    to_day: date
    kind: str | None
    rows: tuple[DailyRow, ...]

    @classmethod
    def from_json(cls, data: Json) -> DailyMetrics:
        return cls(
            timezone=data["timezone"],
            from_day=date.fromisoformat(data["from_day"]),
            to_day=date.fromisoformat(data["to_day"]),
            kind=data.get("kind"),
            rows=tuple(DailyRow.from_json(row) for row in data["rows"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodMetrics(Aggregates):
    from_day: date
    to_day: date

    @classmethod
    def from_json(cls, data: Json) -> PeriodMetrics:
        return cls(
            from_day=date.fromisoformat(data["from_day"]),
            to_day=date.fromisoformat(data["to_day"]),
            **_aggregates(data),
        )


@dataclass(frozen=True, slots=True)
class MetricsChange:
    """Relative change from the previous period (0.25 is +25 %); None when it had none."""

    sessions_started: float | None
    sessions_active: float | None
    users: float | None
    duration_total_s: float | None
    duration_avg_s: float | None
    events: float | None


@dataclass(frozen=True, slots=True)
class Summary:
    period: str
    timezone: str
    kind: str | None
    current: PeriodMetrics
    previous: PeriodMetrics
    change: MetricsChange

    @classmethod
    def from_json(cls, data: Json) -> Summary:
        change = data["change"]
        return cls(
            period=data["period"],
            timezone=data["timezone"],
            kind=data.get("kind"),
            current=PeriodMetrics.from_json(data["current"]),
            previous=PeriodMetrics.from_json(data["previous"]),
            change=MetricsChange(**{name: change.get(name) for name in MetricsChange.__slots__}),
        )


@dataclass(frozen=True, slots=True)
class LiveKind:
    active_sessions: int
    active_users: int


@dataclass(frozen=True, slots=True)
class LiveMetrics:
    at: datetime
    active_sessions: int
    active_users: int
    kinds: Mapping[str, LiveKind]

    @classmethod
    def from_json(cls, data: Json) -> LiveMetrics:
        return cls(
            at=parse_time(data["at"]),
            active_sessions=data["active_sessions"],
            active_users=data["active_users"],
            kinds={
                kind: LiveKind(active_sessions=k["active_sessions"], active_users=k["active_users"])
                for kind, k in (data.get("kinds") or {}).items()
            },
        )


@dataclass(frozen=True, slots=True)
class TenantSettings:
    timezone: str
    updated_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> TenantSettings:
        updated = data.get("updated_at")
        return cls(
            timezone=data["timezone"], updated_at=None if updated is None else parse_time(updated)
        )


@dataclass(frozen=True, slots=True)
class RollupRun:
    refreshed: int
    chunks: int
    pending: int
    at: datetime
    duration_s: float

    @classmethod
    def from_json(cls, data: Json) -> RollupRun:
        return cls(
            refreshed=data["refreshed"],
            chunks=data["chunks"],
            pending=data["pending"],
            at=parse_time(data["at"]),
            duration_s=data["duration_s"],
        )
