"""Per-key rate limits in one process (no Redis): every authenticated request takes a token
from its key's bucket; a key out of tokens gets 429 problem+json with Retry-After, and nothing
of the refused request is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import Harness, running_app


@pytest.fixture
async def limited(sqlite_url: str) -> AsyncIterator[Harness]:
    async with running_app(sqlite_url, rate_limit_per_key=2, rate_limit_burst=4) as api:
        yield api


async def test_a_key_over_its_limit_gets_429_and_nothing_is_stored(limited: Harness) -> None:
    api = limited
    # Every kind of write takes from the same bucket: a start, a heartbeat, a batch, a
    # snapshot (the burst of 4 is then spent).
    answers = [
        await api.post("/v1/sessions", {"id": "s", "user_id": "u", "kind": "game"}, "ingest"),
        await api.post("/v1/sessions/s/heartbeat", {}, "ingest"),
        await api.post("/v1/heartbeats", {"heartbeats": [{"session_id": "s"}]}, "ingest"),
        await api.client.put(
            "/v1/presence/bot", json=[{"user_id": "p", "kind": "voice"}], headers=api.auth("ingest")
        ),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200]
    refused = await api.post("/v1/sessions", {"id": "t", "user_id": "u", "kind": "game"}, "ingest")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"  # 0.5 s, rounded up to whole seconds
    problem = refused.json()
    assert problem["code"] == "rate_limited" and "2 requests a second" in problem["detail"]
    for path in ("/v1/sessions/s/end", "/v1/sessions/s/heartbeat"):
        assert (await api.post(path, {}, "ingest")).status_code == 429
    # Nothing of what was refused was stored; the session that was started is untouched.
    assert (await api.get("/v1/sessions/t")).status_code == 404
    assert (await api.get("/v1/sessions/s")).json()["status"] == "active"
    metric = api.runtime.metrics.rate_limited.collect()[0].samples[0]
    assert metric.value == 3
    # Half a second later the key has a token again.
    api.advance(0.5)
    ended = await api.post("/v1/sessions/s/end", {}, "ingest")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"


async def test_each_key_has_a_bucket_of_its_own(limited: Harness) -> None:
    api = limited
    for _ in range(4):
        assert (await api.get("/v1/sessions", "read")).status_code == 200
    assert (await api.get("/v1/sessions", "read")).status_code == 429
    # Another key of the same tenant, and the admin key, still have theirs.
    assert (await api.get("/v1/sessions", "admin")).status_code == 200
    other = api.new_key("default", "read")
    answer = await api.client.get("/v1/sessions", headers={"Authorization": f"Bearer {other}"})
    assert answer.status_code == 200


async def test_requests_without_a_valid_key_are_refused_as_before(limited: Harness) -> None:
    api = limited
    for _ in range(6):
        answer = await api.client.get("/v1/sessions", headers={"Authorization": "Bearer nope"})
        assert answer.status_code == 401
    assert (await api.client.get("/healthz")).status_code == 200


async def test_without_a_limit_nothing_is_refused(api: Harness) -> None:
    for n in range(50):
        body = {"id": f"s{n}", "user_id": "u", "kind": "game"}
        assert (await api.post("/v1/sessions", body, "ingest")).status_code == 201
