"""A hidden beat is the pure rules' beat that carries its own timeout: the session stored after
it equals ``lifecycle.heartbeat(..., timeout_ms=hidden_timeout)``, on both backends, on the
fast path and on the path of late evidence."""

from __future__ import annotations

from typing import Any

from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.principal import operator
from sessionkeeper.domain.session import Session
from sessionkeeper.links.container import LinkServices
from sessionkeeper.links.rules import Counters
from sessionkeeper.links.tracker_service import Report
from sessionkeeper.storage import sessions as session_store
from tests.support import Harness

POLICY = {"heartbeat_interval_s": 10, "timeout_s": 50, "grace_s": 5, "hidden_timeout_s": 120}


async def started(api: Harness) -> tuple[str, str]:
    assert (await api.put("/v1/policies/page", POLICY)).status_code == 200
    key = (await api.post("/v1/publishable-keys", {"origins": ["https://a.example"]})).json()
    body: dict[str, Any] = {"key": key["key"], "kind": "page"}
    answer = await api.client.post(
        "/v1/tracker/start", json=body, headers={"Origin": "https://a.example"}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["token"], answer.json()["session_id"]


def stored(api: Harness, session_id: str) -> Session:
    principal = operator(1, "default")
    with api.runtime.db.read_engine.connect() as conn:
        found = session_store.get(conn, principal, session_id)
    assert found is not None
    return found


async def beat(api: Harness, token: str, at: int, *, hidden: bool) -> None:
    tracker = api.services.of(LinkServices).tracker
    report = Report(counters=Counters(seq=at), hidden=hidden, at=at)
    await tracker.report(token, "https://a.example", report, end=False)


async def test_a_hidden_beat_is_a_beat_with_the_hidden_timeout(api_any: Harness) -> None:
    api = api_any
    token, sid = await started(api)
    before = stored(api, sid).lifecycle
    api.advance(20)
    at = api.clock.now_ms()
    await beat(api, token, at, hidden=True)
    expected = lifecycle.heartbeat(before, at, at, timeout_ms=120_000)
    assert stored(api, sid).lifecycle == expected
    assert expected.expires_at == at + 120_000
    # Visible again: the policy's timeout.
    api.advance(30)
    again = api.clock.now_ms()
    await beat(api, token, again, hidden=False)
    assert stored(api, sid).lifecycle == lifecycle.heartbeat(
        expected, again, again, timeout_ms=50_000
    )


async def test_a_late_hidden_beat_amends_as_the_rules_say(api_any: Harness) -> None:
    api = api_any
    token, sid = await started(api)
    start = api.clock.now_ms()
    # The page went silent; the sweep closed it at its estimated end.
    api.advance(60)
    await api.post("/v1/maintenance/sweep")
    closed = stored(api, sid)
    assert closed.status == "timed_out"
    # A hidden beat made in time (before the deadline) arrives now: late evidence.
    made = start + 40_000
    now = api.clock.now_ms()
    await beat(api, token, made, hidden=True)
    expected = lifecycle.heartbeat(closed.lifecycle, made, now, timeout_ms=120_000)
    assert expected.status == "active" and expected.amended_count == 1
    assert stored(api, sid).lifecycle == expected
