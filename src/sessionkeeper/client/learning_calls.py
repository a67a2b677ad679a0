"""Outcomes, metric definitions and the end-user API (``/v1/me``) as
:class:`~sessionkeeper.client.calls.Call` values, sent with ``client.send(call)``.

The ``me_*`` calls are made with an end user's token in place of the API key::

    async with AsyncClient(url, user_jwt) as me:
        session = await me.send(learning_calls.me_start("lesson"))
        await me.send(learning_calls.me_end(session.id, outcome={"metrics": {"score": 90}}))
        stats = await me.send(learning_calls.me_stats(period="week", tz="Europe/Prague"))

A session started here carries an id made here, so a retried start is answered with the same
session; outcomes are replaced whole, so a retried PUT changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sessionkeeper.client.calls import Call, outcome_body, path_segment
from sessionkeeper.client.learning_models import (
    Erased,
    MetricDefinition,
    MetricDefinitions,
    Recap,
    SessionWithOutcome,
    UserSessionPage,
    UserStats,
)
from sessionkeeper.client.models import HeartbeatResult
from sessionkeeper.client.protocol import new_session_id


def put_outcome(session_id: str, **outcome: Any) -> Call[SessionWithOutcome]:
    """Set (replace) a session's outcome: ``metrics``, ``counters``, ``tags``, ``metadata``."""
    path = f"/v1/sessions/{path_segment(session_id)}/outcome"
    return Call("PUT", path, SessionWithOutcome.from_json, json=outcome_body(**outcome))


def get_outcome(session_id: str) -> Call[SessionWithOutcome]:
    path = f"/v1/sessions/{path_segment(session_id)}/outcome"
    return Call("GET", path, SessionWithOutcome.from_json)


def put_metric_definition(
    name: str,
    min: float,
    max: float,
    *,
    unit: str | None = None,
    higher_is_better: bool = True,
) -> Call[MetricDefinition]:
    body: dict[str, Any] = {"min": min, "max": max, "higher_is_better": higher_is_better}
    if unit is not None:
        body["unit"] = unit
    path = f"/v1/metric-definitions/{path_segment(name)}"
    return Call("PUT", path, MetricDefinition.from_json, json=body)


def metric_definitions() -> Call[MetricDefinitions]:
    return Call("GET", "/v1/metric-definitions", MetricDefinitions.from_json)


def _page_params(kind: str | None, limit: int, cursor: str | None) -> dict[str, str]:
    params = {"limit": str(limit)}
    if kind is not None:
        params["kind"] = kind
    if cursor is not None:
        params["cursor"] = cursor
    return params


def _stats_params(period: str, tz: str | None) -> dict[str, str]:
    return {"period": period} if tz is None else {"period": period, "tz": tz}


# /v1/me: with an end user's token.


def me_start(
    kind: str,
    *,
    id: str | None = None,
    label: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Call[SessionWithOutcome]:
    body: dict[str, Any] = {"id": id or new_session_id(), "kind": kind}
    if label is not None:
        body["label"] = label
    if attributes is not None:
        body["attributes"] = dict(attributes)
    return Call("POST", "/v1/me/sessions", SessionWithOutcome.from_json, json=body)


def me_heartbeat(session_id: str) -> Call[HeartbeatResult]:
    path = f"/v1/me/sessions/{path_segment(session_id)}/heartbeat"
    return Call("POST", path, HeartbeatResult.from_json)


def me_end(
    session_id: str, *, outcome: Mapping[str, Any] | None = None
) -> Call[SessionWithOutcome]:
    body = {} if outcome is None else {"outcome": outcome_body(**outcome)}
    path = f"/v1/me/sessions/{path_segment(session_id)}/end"
    return Call("POST", path, SessionWithOutcome.from_json, json=body)


def me_put_outcome(session_id: str, **outcome: Any) -> Call[SessionWithOutcome]:
    path = f"/v1/me/sessions/{path_segment(session_id)}/outcome"
    return Call("PUT", path, SessionWithOutcome.from_json, json=outcome_body(**outcome))


def me_sessions(
    *, kind: str | None = None, limit: int = 50, cursor: str | None = None
) -> Call[UserSessionPage]:
    params = _page_params(kind, limit, cursor)
    return Call("GET", "/v1/me/sessions", UserSessionPage.from_json, params=params)


def me_stats(*, period: str = "week", tz: str | None = None) -> Call[UserStats]:
    return Call("GET", "/v1/me/stats", UserStats.from_json, params=_stats_params(period, tz))


def me_recap(*, tz: str | None = None) -> Call[Recap]:
    return Call("GET", "/v1/me/recap", Recap.from_json, params=None if tz is None else {"tz": tz})


def erase_me() -> Call[Erased]:
    return Call("DELETE", "/v1/me", lambda data: Erased(**data))


# /v1/users/{user_id}: with an admin or read key.


def user_sessions(
    user_id: str, *, kind: str | None = None, limit: int = 50, cursor: str | None = None
) -> Call[UserSessionPage]:
    path = f"/v1/users/{path_segment(user_id)}/sessions"
    return Call("GET", path, UserSessionPage.from_json, params=_page_params(kind, limit, cursor))


def user_stats(user_id: str, *, period: str = "week", tz: str | None = None) -> Call[UserStats]:
    path = f"/v1/users/{path_segment(user_id)}/stats"
    return Call("GET", path, UserStats.from_json, params=_stats_params(period, tz))


def user_recap(user_id: str, *, tz: str | None = None) -> Call[Recap]:
    path = f"/v1/users/{path_segment(user_id)}/recap"
    return Call("GET", path, Recap.from_json, params=None if tz is None else {"tz": tz})


def erase_user(user_id: str) -> Call[Erased]:
    return Call("DELETE", f"/v1/users/{path_segment(user_id)}", lambda data: Erased(**data))
