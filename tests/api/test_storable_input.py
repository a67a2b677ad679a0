"""What is acknowledged can be read back: inputs that could be stored but never sent back
are refused up front."""

from __future__ import annotations

import pytest

from tests.support import T0, Harness, iso, ms, running_app


async def _nothing_stored(api: Harness) -> None:
    assert (await api.get("/v1/sessions")).json()["items"] == []


async def test_lone_surrogates_are_422(api: Harness) -> None:
    body = '{"user_id": "u", "kind": "game", "attributes": {"a": "\\ud800"}}'
    response = await api.client.post(
        "/v1/sessions", content=body, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["field"] == "attributes"
    body = '{"user_id": "\\udfff", "kind": "game"}'
    response = await api.client.post(
        "/v1/sessions", content=body, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["field"] == "user_id"
    await _nothing_stored(api)


async def test_deeply_nested_attributes_are_422(api: Harness) -> None:
    deep: dict[str, object] = {}
    for _ in range(40):
        deep = {"d": deep}
    response = await api.post("/v1/sessions", {"user_id": "u", "kind": "game", "attributes": deep})
    assert response.status_code == 422 and response.json()["field"] == "attributes"
    snapshot = await api.put(
        "/v1/presence/bot", [{"user_id": "u", "kind": "game", "attributes": deep}]
    )
    assert snapshot.status_code == 422
    await _nothing_stored(api)


async def test_oversized_attributes_are_422(api: Harness) -> None:
    big = {f"k{i}": "x" * 1000 for i in range(70)}
    response = await api.post("/v1/sessions", {"user_id": "u", "kind": "game", "attributes": big})
    assert response.status_code == 422
    await _nothing_stored(api)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1e-400", "-0.5e-330", "12E-999"])
async def test_numbers_beyond_float_range_are_422(api: Harness, number: str) -> None:
    """Too large for a float, or too small to be told from zero: stored, either would read
    back as another number (infinity, 0.0)."""
    body = '{"user_id": "u", "kind": "game", "attributes": {"x": ' + number + "}}"
    response = await api.client.post(
        "/v1/sessions", content=body, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["field"] == "body"
    await _nothing_stored(api)


@pytest.mark.parametrize("number", ["0.0", "-0.0", "0e-400", "0.000e5", "5e-324"])
async def test_zeros_and_the_smallest_float_are_taken(api: Harness, number: str) -> None:
    body = '{"user_id": "u", "kind": "game", "attributes": {"x": ' + number + "}}"
    response = await api.client.post(
        "/v1/sessions", content=body, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["attributes"]["x"] == float(number)


async def test_ids_outside_the_pattern_are_unknown(api: Harness) -> None:
    for path in ("/v1/sessions/a%00b", "/v1/sessions/a%00b/heartbeat", "/v1/sessions/a%00b/end"):
        method = "GET" if path.endswith("b") else "POST"
        response = await api.client.request(method, path, headers=api.auth())
        assert response.status_code == 404, path


async def test_a_start_older_than_the_timeout_is_closed_at_once(api: Harness) -> None:
    started = T0 - 600_000  # ten minutes ago, timeout five
    response = await api.post(
        "/v1/sessions", {"id": "old", "user_id": "u", "kind": "game", "started_at": iso(started)}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "timed_out" and body["estimated"] is True
    assert body["duration_s"] == 30.0  # the grace, as the sweep would have credited
    again = await api.post(
        "/v1/sessions", {"id": "old", "user_id": "u", "kind": "game", "started_at": iso(started)}
    )
    assert again.status_code == 200 and again.json() == body


async def test_a_policy_set_through_one_process_reaches_a_start_in_another(
    api: Harness, sqlite_url: str
) -> None:
    async with running_app(sqlite_url, api.clock) as other:
        # The other process has read the policies before the change.
        assert (await other.get("/v1/policies")).status_code == 200
        await api.put("/v1/policies/game", {"heartbeat_interval_s": 2, "timeout_s": 10})
        started = (await other.post("/v1/sessions", {"user_id": "u", "kind": "game"})).json()
        assert ms(started["expires_at"]) - ms(started["started_at"]) == 10_000
