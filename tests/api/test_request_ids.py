"""Every answer names its request (X-Request-ID, and request_id in problems); the read pool
has the configured size."""

from __future__ import annotations

import re

import pytest

from sessionkeeper.services.runtime import Runtime
from tests.support import Harness, settings_for


async def test_an_id_is_made_when_the_client_sends_none(api: Harness) -> None:
    ok = await api.get("/v1/sessions")
    assert re.fullmatch(r"[0-9a-f]{32}", ok.headers["x-request-id"])
    other = await api.get("/v1/sessions")
    assert other.headers["x-request-id"] != ok.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/sessions/nope", 404),
        ("GET", "/no/such/route", 404),
        ("DELETE", "/v1/sessions", 405),
        ("POST", "/v1/sessions", 422),
    ],
)
async def test_the_clients_id_is_echoed_in_header_and_problem(
    api: Harness, method: str, path: str, status: int
) -> None:
    response = await api.client.request(
        method, path, headers={**api.auth(), "X-Request-ID": "req-7f3a.b:c"}, json={}
    )
    assert response.status_code == status
    assert response.headers["x-request-id"] == "req-7f3a.b:c"
    assert response.json()["request_id"] == "req-7f3a.b:c"


async def test_refusals_outside_the_routes_carry_the_id(api: Harness) -> None:
    headers = {**api.auth(), "X-Request-ID": "big-1", "content-type": "application/json"}
    too_large = await api.client.post(
        "/v1/sessions", content=b"x" * (api.runtime.settings.max_body_bytes + 1), headers=headers
    )
    assert too_large.status_code == 413 and too_large.json()["request_id"] == "big-1"
    encoded = await api.client.post(
        "/v1/sessions", content=b"{}", headers={**headers, "content-encoding": "br"}
    )
    assert encoded.status_code == 415 and encoded.headers["x-request-id"] == "big-1"


@pytest.mark.parametrize("sent", ["", "x" * 129, "two words", "line\\nbreak", "é"])
async def test_unusable_ids_are_replaced(api: Harness, sent: str) -> None:
    response = await api.client.get("/healthz", headers={"X-Request-ID": sent.encode()})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_the_read_pool_has_the_configured_size(db_url: str) -> None:
    runtime = Runtime.open(settings_for(db_url, db_pool_size=3))
    try:
        assert runtime.db.read_engine.pool.size() == 3  # type: ignore[attr-defined]
        assert runtime.db.write_engine.pool.size() == 1  # type: ignore[attr-defined]
    finally:
        runtime.close()
