"""A query parameter a route does not declare, or one given twice, is refused with a 422
naming it (``api/query.py``): a misspelt filter must not silently widen a listing to
everything, nor a repeated one silently keep its last value."""

from __future__ import annotations

import pytest

from tests.support import Harness


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/events", {"kindd": "game"}),
        ("/v1/rooms", {"statuss": "active"}),
        ("/v1/keys", {"revoked": "false"}),
        ("/v1/audit", {"actions": "session.end"}),
        ("/v1/metrics/daily", {"dayz": "2"}),
        ("/v1/metrics/live", {"kind": "game"}),
        ("/v1/health", {"detail": "true"}),
        ("/v1/policies", {"x": "1"}),
    ],
)
async def test_an_undeclared_parameter_is_422_naming_it(
    api: Harness, path: str, params: dict[str, str]
) -> None:
    response = await api.get(path, **params)
    assert response.status_code == 422, response.text
    body = response.json()
    (name,) = params
    assert (body["field"], body["code"]) == (name, "unknown_parameter")


async def test_a_parameter_given_twice_is_422(api: Harness) -> None:
    response = await api.client.get("/v1/rooms?status=active&status=expired", headers=api.auth())
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["code"]) == ("status", "repeated_parameter")


async def test_declared_parameters_and_the_filters_of_listings_are_taken(api: Harness) -> None:
    assert (await api.get("/v1/rooms", status="active", limit=5)).status_code == 200
    assert (await api.get("/v1/metrics/daily", days=2)).status_code == 200
    assert (await api.get("/v1/health", details="true")).status_code == 200
    # Listings that read their filters themselves, and refuse the unknown ones as before.
    assert (await api.get("/v1/sessions", status="active", **{"subject.t": "1"})).is_success
    assert (await api.get("/v1/links", **{"subject.teacher_id": "t1"})).is_success
    assert (await api.get("/v1/sessions", statuss="active")).status_code == 422
    assert (await api.get("/v1/sessions/export.csv", kind="game")).is_success


async def test_a_heartbeat_with_a_query_is_refused_by_every_path(api: Harness) -> None:
    """The plain heartbeat's fast path answers no request with a query string: the declared
    route does, and refuses it as any route would."""
    started = await api.post("/v1/sessions", {"id": "s", "user_id": "u", "kind": "game"})
    assert started.status_code == 201
    for body in (None, {"attributes": {"a": 1}}):
        beat = await api.client.post(
            "/v1/sessions/s/heartbeat?at=now", json=body, headers=api.auth()
        )
        assert beat.status_code == 422 and beat.json()["field"] == "at", beat.text
    assert (await api.post("/v1/sessions/s/heartbeat")).status_code == 200


@pytest.mark.parametrize(
    ("params", "listed"),
    [
        ({"started_after": "2026-01-05T09:00:00.0004Z"}, False),  # after the start
        ({"started_after": "2026-01-05T08:59:59.9996Z"}, True),
        ({"started_before": "2026-01-05T09:00:00.0004Z"}, True),  # before it: after the start
        ({"started_before": "2026-01-05T09:00:00Z"}, False),
        ({"ended_after": "2026-01-05T09:30:00.0001Z"}, False),
        ({"ended_before": "2026-01-05T09:30:00.0001Z"}, True),
        ({"min_duration_s": "1800.0004"}, False),  # it lasted 1,800.000 s
        ({"min_duration_s": "1800"}, True),
        ({"min_duration_s": "0.3"}, True),
        ({"active_during": "2026-01-05T09:29:59.9995Z/2026-01-05T09:29:59.9999Z"}, True),
        ({"active_during": "2026-01-05T09:30:00Z/2026-01-05T09:30:00.0004Z"}, False),
    ],
)
async def test_bounds_finer_than_a_millisecond_are_taken_exactly(
    api: Harness, params: dict[str, str], listed: bool
) -> None:
    """Times are stored to the millisecond; a bound between two milliseconds still means what
    it says (rounded to the nearest, 09:00:00.0004 took in a start at 09:00:00.000)."""
    await api.put("/v1/policies/game", {"heartbeat_interval_s": 600, "timeout_s": 3600})
    await api.post("/v1/sessions", {"id": "s", "user_id": "u", "kind": "game"})  # at 09:00
    api.advance(1800)
    await api.post("/v1/sessions/s/end", {})
    page = await api.get("/v1/sessions", **params)
    assert page.status_code == 200, page.text
    assert [s["id"] for s in page.json()["items"]] == (["s"] if listed else [])
