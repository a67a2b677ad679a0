"""Bodies of the history API and the rollup maintenance endpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from sessionkeeper.domain.times import api_time, from_ms, seconds_of
from sessionkeeper.events.rules import NO_KIND
from sessionkeeper.rollups.history import Daily, Live, PeriodTotals, Summary
from sessionkeeper.rollups.rules import DayRow, Period, TopName, change
from sessionkeeper.rollups.service import RefreshResult


class TopNameOut(BaseModel):
    type: str
    name: str = Field(description="The event's name; for a page_view, the page")
    count: int


class Aggregates(BaseModel):
    sessions_started: int
    sessions_active: int = Field(description="Sessions that started or ran during it")
    users: int = Field(description="Distinct users of those sessions")
    duration_total_s: float = Field(description="Time the sessions covered within it")
    estimated_s: float = Field(description="The part of the total from estimated ends")
    bounds_s: tuple[float, float] = Field(
        description="[low, high]: where the true total lies, from each session's "
        "duration_bounds_s (the part of each within it)"
    )
    duration_avg_s: float | None
    duration_p50_s: float | None = Field(description="Median of each session's time within it")
    duration_p95_s: float | None
    by_status: dict[str, int] = Field(description="Those sessions by their status now")
    events_by_type: dict[str, int]
    top_names: list[TopNameOut] = Field(description="The 10 most frequent event names")

    @staticmethod
    def fields_of(
        sessions: Mapping[str, Any],
        events_by_type: Mapping[str, int],
        top_names: tuple[TopName, ...] | list[TopName],
    ) -> dict[str, Any]:
        blank = DayRow(day=date.min, kind="")
        active = int(sessions.get("sessions_active", 0))
        total = int(sessions.get("duration_total_ms", 0))
        return {
            "sessions_started": int(sessions.get("sessions_started", 0)),
            "sessions_active": active,
            "users": int(sessions.get("users", 0)),
            "duration_total_s": total / 1000,
            "estimated_s": int(sessions.get("duration_estimated_ms", 0)) / 1000,
            "bounds_s": (
                int(sessions.get("duration_low_ms", total)) / 1000,
                int(sessions.get("duration_high_ms", total)) / 1000,
            ),
            "duration_avg_s": total / active / 1000 if active else None,
            "duration_p50_s": seconds_of(sessions.get("duration_p50_ms")),
            "duration_p95_s": seconds_of(sessions.get("duration_p95_ms")),
            "by_status": dict(sessions.get("by_status", blank.by_status)),
            "events_by_type": {**blank.events_by_type, **events_by_type},
            "top_names": [{"type": n.type, "name": n.name, "count": n.count} for n in top_names],
        }


def _row_json(row: DayRow) -> dict[str, Any]:
    """A day's row as :class:`DailyRowOut` sends it, as plain JSON values."""
    sessions = {
        "sessions_started": row.sessions_started,
        "sessions_active": row.sessions_active,
        "users": row.users,
        "duration_total_ms": row.duration_total_ms,
        "duration_estimated_ms": row.duration_estimated_ms,
        "duration_low_ms": row.duration_low_ms,
        "duration_high_ms": row.duration_high_ms,
        "duration_p50_ms": row.duration_p50_ms,
        "duration_p95_ms": row.duration_p95_ms,
        "by_status": row.by_status,
    }
    return {
        "day": row.day.isoformat(),
        "kind": None if row.kind == NO_KIND else row.kind,
        "computed_at": api_time(row.computed_at),
        **Aggregates.fields_of(sessions, row.events_by_type, row.top_names),
    }


class DailyRowOut(Aggregates):
    day: date
    kind: str | None = Field(description="null for the events sent without a session")
    computed_at: datetime = Field(description="When this row was last recomputed")


class DailyOut(BaseModel):
    timezone: str = Field(description="The days are days of this time zone")
    from_day: date
    to_day: date
    kind: str | None
    rows: list[DailyRowOut] = Field(description="One per day and kind that had any activity")

    @staticmethod
    def encode(daily: Daily, kind: str | None) -> bytes:
        """The answer as JSON, built without a model per row: years of days answer fast."""
        body = {
            "timezone": daily.timezone,
            "from_day": daily.first.isoformat(),
            "to_day": daily.last.isoformat(),
            "kind": kind,
            "rows": [_row_json(row) for row in daily.rows],
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class PeriodOut(Aggregates):
    from_day: date
    to_day: date

    @classmethod
    def of(cls, totals: PeriodTotals) -> PeriodOut:
        return cls(
            from_day=totals.first,
            to_day=totals.last,
            **Aggregates.fields_of(totals.sessions, totals.events_by_type, totals.top_names),
        )

    @property
    def events(self) -> int:
        return sum(self.events_by_type.values())


class ChangeOut(BaseModel):
    """Relative change from the previous period (0.25 is +25 %); null when it had none."""

    sessions_started: float | None
    sessions_active: float | None
    users: float | None
    duration_total_s: float | None
    duration_avg_s: float | None
    events: float | None


class SummaryOut(BaseModel):
    period: Period
    timezone: str
    kind: str | None
    current: PeriodOut = Field(description="This day, week or month up to now")
    previous: PeriodOut = Field(description="The whole period before it")
    change: ChangeOut

    @classmethod
    def of(cls, summary: Summary) -> SummaryOut:
        current, previous = PeriodOut.of(summary.current), PeriodOut.of(summary.previous)
        changes = {
            name: change(getattr(current, name), getattr(previous, name))
            for name in ChangeOut.model_fields
            if name != "events"
        }
        return cls(
            period=summary.period,
            timezone=summary.timezone,
            kind=summary.kind,
            current=current,
            previous=previous,
            change=ChangeOut(**changes, events=change(current.events, previous.events)),
        )


class LiveKindOut(BaseModel):
    active_sessions: int
    active_users: int


class LiveOut(BaseModel):
    at: datetime = Field(description="When these counts were read")
    active_sessions: int
    active_users: int
    kinds: dict[str, LiveKindOut]

    @classmethod
    def of(cls, live: Live) -> LiveOut:
        by_kind = live.counts.by_kind
        return cls(
            at=from_ms(live.at),
            active_sessions=sum(n for n, _ in by_kind.values()),
            active_users=live.counts.users,
            kinds={
                kind: LiveKindOut(active_sessions=n, active_users=users)
                for kind, (n, users) in sorted(by_kind.items())
            },
        )


class RollupRunOut(BaseModel):
    refreshed: int = Field(description="Day-parts (a day's sessions or events) recomputed")
    chunks: int = Field(description="Write transactions it took")
    pending: int = Field(description="Day-parts still marked (changed meanwhile)")
    at: datetime
    duration_s: float

    @classmethod
    def of(cls, result: RefreshResult, pending: int) -> RollupRunOut:
        return cls(
            refreshed=result.refreshed,
            chunks=len(result.chunks),
            pending=pending,
            at=from_ms(result.at),
            duration_s=result.duration_s,
        )
