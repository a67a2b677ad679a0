"""Every answer names its request (X-Request-ID, and request_id in problems); the read pool
has the configured size."""

from __future__ import annotations

import random
import re

import pytest

from sessionkeeper.services.runtime import Runtime
from tests.support import Harness, settings_for


async def test_an_id_is_made_when_the_client_sends_none(api: Harness) -> None:
    ok = await api.get("/v1/sessions")
    assert re.fullmatch(r"[0-9a-f]{32}", ok.headers["x-request-id"])
    other = await api.get("/v1/sessions")
    assert other.headers["x-request-id"] != ok.headers["x-request-id"]


def _untemper(y: int) -> int:
    """The Mersenne Twister's state word behind one 32-bit output."""
    y ^= y >> 18
    y ^= (y << 15) & 0xEFC60000
    r = y
    for _ in range(5):
        r = y ^ ((r << 7) & 0x9D2C5680)
    y = r & 0xFFFFFFFF
    r = y
    for _ in range(3):
        r = y ^ (r >> 11)
    return r & 0xFFFFFFFF


async def test_ids_made_by_the_server_do_not_count_other_requests(api: Harness) -> None:
    """Ids made by a generator a client can rebuild from the ids it saw would let it count
    every request of every tenant between two of its own (Python's ``random`` is rebuilt
    from 156 ids of 128 bits)."""
    ids = [(await api.get("/v1/sessions", limit=1)).headers["x-request-id"] for _ in range(157)]
    words = [(int(i, 16) >> (32 * k)) & 0xFFFFFFFF for i in ids for k in range(4)]
    rebuilt = random.Random()
    rebuilt.setstate((3, (*[_untemper(w) for w in words[:624]], 624), None))
    assert [rebuilt.getrandbits(32) for _ in words[624:]] != words[624:]
    assert len(set(ids)) == len(ids)


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
