"""The heartbeat route answers the plain case itself and hands everything else to the route
FastAPI declared: whichever way a request goes, its answer is the same.

Each case is sent twice, to two sessions in the same state: once as served, once with the
plain case switched off (every request then goes the declared route's way). The answers must
agree in status, content type and body (the session ids and request ids aside), and the
plain cases must really have been answered by the route itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sessionkeeper.api import heartbeat_route
from tests.support import T0, Harness

JSON = "application/json"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


EARLIER = _iso(T0 - 1_000)
LONG_AGO = _iso(T0 - 3_600_000)

# (name, content type or None, body, plain: answered by the route itself)
BODIES: list[tuple[str, str | None, bytes, bool]] = [
    ("no body", None, b"", True),
    ("empty object", JSON, b"{}", True),
    ("a time", JSON, json.dumps({"at": EARLIER}).encode(), True),
    ("attributes", JSON, b'{"attributes": {"level": 3, "map": "dust"}}', True),
    ("charset", f"{JSON}; charset=utf-8", json.dumps({"at": EARLIER}).encode(), True),
    ("older than the last beat", JSON, json.dumps({"at": LONG_AGO}).encode(), True),
    ("in the future", JSON, json.dumps({"at": _iso(T0 + 86_400_000)}).encode(), True),
    ("attributes over the cap", JSON, json.dumps({"attributes": {"k": "v" * 5000}}).encode(), True),
    ("an unknown field", JSON, json.dumps({"at": EARLIER, "extra": 1}).encode(), False),
    ("not a time", JSON, b'{"at": "yesterday"}', False),
    ("NaN", JSON, b'{"attributes": {"x": NaN}}', False),
    (
        "a duplicate key",
        JSON,
        b'{"at": "2026-01-05T08:59:59Z", "at": "2026-01-05T08:59:58Z"}',
        False,
    ),
    ("a list", JSON, b"[1, 2]", False),
    ("broken JSON", JSON, b'{"at": ', False),
    ("null", JSON, b"null", False),
    ("text/plain", "text/plain", json.dumps({"at": EARLIER}).encode(), False),
    ("no content type", None, json.dumps({"at": EARLIER}).encode(), False),
    ("a +json type", "application/vnd.api+json", json.dumps({"at": EARLIER}).encode(), False),
]


def watch_the_plain_case(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each request from now on was answered by the route itself (True) or handed
    to the declared route (False), in order."""
    taken: list[bool] = []
    plain = heartbeat_route.HeartbeatRoute.plain

    def watched(route: Any, scope: Any, messages: Any) -> Any:
        found = plain(route, scope, messages)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(heartbeat_route.HeartbeatRoute, "plain", watched)
    return taken


def _comparable(response: httpx.Response, session_id: str) -> tuple[int, str, Any]:
    text = response.text.replace(session_id, "<session>")
    body = json.loads(text) if text else None
    if isinstance(body, dict):
        body.pop("request_id", None)
    return response.status_code, response.headers.get("content-type", ""), body


async def _start_pair(api: Harness, name: str) -> tuple[str, str]:
    ids = (f"served-{name}", f"declared-{name}")
    for session_id in ids:
        started = await api.post(
            "/v1/sessions",
            {"id": session_id, "user_id": "u", "kind": "game", "started_at": _iso(T0 - 5_000)},
        )
        assert started.status_code == 201, started.text
    return ids


async def _beat(
    api: Harness, session_id: str, content_type: str | None, body: bytes, key: str | None
) -> httpx.Response:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await api.client.post(
        f"/v1/sessions/{session_id}/heartbeat", content=body, headers=headers
    )


async def _both_ways(
    api: Harness,
    monkeypatch: pytest.MonkeyPatch,
    ids: tuple[str, str],
    content_type: str | None,
    body: bytes,
    key: str | None,
) -> tuple[httpx.Response, httpx.Response, bool]:
    with monkeypatch.context() as patch:
        taken = watch_the_plain_case(patch)
        served = await _beat(api, ids[0], content_type, body, key)
    with monkeypatch.context() as patch:
        patch.setattr(heartbeat_route.HeartbeatRoute, "plain", lambda *_: None)
        declared = await _beat(api, ids[1], content_type, body, key)
    return served, declared, taken == [True]


@pytest.mark.parametrize(
    ("name", "content_type", "body", "plain"), BODIES, ids=[b[0] for b in BODIES]
)
async def test_every_body_is_answered_as_the_declared_route_answers_it(
    api: Harness,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    content_type: str | None,
    body: bytes,
    plain: bool,
) -> None:
    ids = await _start_pair(api, name.replace(" ", "-").replace("/", "-").replace("+", "-"))
    served, declared, by_route = await _both_ways(
        api, monkeypatch, ids, content_type, body, api.keys["ingest"]
    )
    assert _comparable(served, ids[0]) == _comparable(declared, ids[1])
    assert by_route == plain


@pytest.mark.parametrize("caller", ["read key", "unknown key", "no key"])
@pytest.mark.parametrize("target", ["open", "ended", "missing"])
async def test_callers_and_sessions_are_answered_as_the_declared_route_answers_them(
    api: Harness, monkeypatch: pytest.MonkeyPatch, caller: str, target: str
) -> None:
    ids = await _start_pair(api, f"{caller}-{target}".replace(" ", "-"))
    if target == "ended":
        for session_id in ids:
            assert (await api.post(f"/v1/sessions/{session_id}/end", {})).status_code == 200
    if target == "missing":
        ids = ("missing-served", "missing-declared")
    key = {"read key": api.keys["read"], "unknown key": "sk_unknown", "no key": None}[caller]
    for one_key in (key, api.keys["ingest"]):
        body = json.dumps({"at": EARLIER}).encode()
        served, declared, _ = await _both_ways(api, monkeypatch, ids, JSON, body, one_key)
        assert _comparable(served, ids[0]) == _comparable(declared, ids[1])
        assert served.status_code != 500


async def test_another_method_is_refused_as_the_declared_route_refuses_it(api: Harness) -> None:
    response = await api.client.get("/v1/sessions/x/heartbeat", headers=api.auth("ingest"))
    assert response.status_code == 405
