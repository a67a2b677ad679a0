"""The analytics operations as calls (see ``calls``): events, metrics, settings, rollups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, TypedDict
from urllib.parse import quote

from sessionkeeper.client.analytics import (
    DailyMetrics,
    EventBatchResult,
    EventPage,
    EventType,
    LiveMetrics,
    NewEvent,
    RollupRun,
    Summary,
    TenantSettings,
)
from sessionkeeper.client.calls import Call, iso, query_params
from sessionkeeper.client.protocol import new_session_id


class SessionEventFilters(TypedDict, total=False):
    """Which of a session's events a listing returns; ``since`` included, ``until`` not."""

    type: EventType
    name: str
    since: datetime
    until: datetime
    limit: int
    cursor: str


class EventFilters(SessionEventFilters, total=False):
    """Which events a listing returns; ``since`` included, ``until`` excluded."""

    user_id: str
    session_id: str


def send_events(events: Iterable[NewEvent | Mapping[str, Any]]) -> Call[EventBatchResult]:
    """Up to 1,000 events. Ids are made here for events without one, once: a retry of the
    call sends the same ids, and the server stores each event once."""
    body = []
    for event in events:
        item = {name: value for name, value in dict(event).items() if value is not None}
        item.setdefault("event_id", new_session_id())
        if isinstance(item.get("at"), datetime):
            item["at"] = iso(item["at"])
        body.append(item)
    return Call("POST", "/v1/events", EventBatchResult.from_json, json={"events": body})


def list_events(**filters: Any) -> Call[EventPage]:
    return Call("GET", "/v1/events", EventPage.from_json, params=query_params(filters))


def session_events(session_id: str, **filters: Any) -> Call[EventPage]:
    path = f"/v1/sessions/{quote(session_id, safe='')}/events"
    return Call("GET", path, EventPage.from_json, params=query_params(filters))


def metrics_daily(
    *,
    days: int | None = None,
    from_day: date | None = None,
    to_day: date | None = None,
    kind: str | None = None,
    tz: str | None = None,
) -> Call[DailyMetrics]:
    values = {"days": days, "from": from_day, "to": to_day, "kind": kind, "tz": tz}
    return Call("GET", "/v1/metrics/daily", DailyMetrics.from_json, params=query_params(values))


def metrics_summary(period: str = "day", *, kind: str | None = None) -> Call[Summary]:
    params = query_params({"period": period, "kind": kind})
    return Call("GET", "/v1/metrics/summary", Summary.from_json, params=params)


def metrics_live() -> Call[LiveMetrics]:
    return Call("GET", "/v1/metrics/live", LiveMetrics.from_json)


def settings() -> Call[TenantSettings]:
    return Call("GET", "/v1/settings", TenantSettings.from_json)


def put_settings(*, timezone: str) -> Call[TenantSettings]:
    return Call("PUT", "/v1/settings", TenantSettings.from_json, json={"timezone": timezone})


def refresh_rollups() -> Call[RollupRun]:
    return Call("POST", "/v1/maintenance/rollup", RollupRun.from_json)
