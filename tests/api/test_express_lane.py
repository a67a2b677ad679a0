"""The express lane takes the plain single heartbeat past the middleware stack, and only that.

Whether its answers equal the stack's is ``test_heartbeat_route.py``'s and
``test_heartbeat_route_edges.py``'s business (each case both ways); here: which requests the
lane takes, and that what the stack's layers did for them still happens (the request id,
the access log line, the duration metric).
"""

from __future__ import annotations

import gzip
import logging
from typing import Any

import httpx
import pytest

from sessionkeeper.api.request_body import RequestBody
from tests.support import T0, Harness, iso

JSON = "application/json"


@pytest.fixture
def through_stack(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests that went through the middleware stack (its body layer,
    which every request of the stack passes), in order."""
    passed: list[str] = []
    call = RequestBody.__call__

    async def counted(self: RequestBody, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            passed.append(scope["path"])
        await call(self, scope, receive, send)

    monkeypatch.setattr(RequestBody, "__call__", counted)
    return passed


async def _start(api: Harness, session_id: str) -> None:
    body = {"id": session_id, "user_id": "u", "kind": "game", "started_at": iso(T0 - 5_000)}
    assert (await api.post("/v1/sessions", body, scope="ingest")).status_code == 201


async def _beat(api: Harness, content: bytes, **headers: str) -> httpx.Response:
    return await api.client.post(
        "/v1/sessions/s-1/heartbeat",
        content=content,
        headers={"Content-Type": JSON, **api.auth("ingest"), **headers},
    )


async def test_a_plain_heartbeat_is_answered_without_the_stack(
    api: Harness, through_stack: list[str]
) -> None:
    await _start(api, "s-1")
    through_stack.clear()
    for content in (b"{}", b"", b'{"attributes": {"level": 3}}'):
        answer = await _beat(api, content)
        assert answer.status_code == 200, answer.text
    assert through_stack == []
    # Errors of the call are answered in the lane too, by the app's handlers.
    missing = await api.client.post(
        "/v1/sessions/nope/heartbeat", json={}, headers=api.auth("ingest")
    )
    unknown = await api.client.post(
        "/v1/sessions/s-1/heartbeat", json={}, headers={"Authorization": "Bearer sk_unknown"}
    )
    assert (missing.status_code, unknown.status_code) == (404, 401)
    assert missing.headers["content-type"] == "application/problem+json"
    assert through_stack == []


@pytest.mark.parametrize(
    ("name", "content", "headers", "status"),
    [
        ("a body that is not the plain case", b'{"extra": 1}', {}, 422),
        ("a gzip body", gzip.compress(b"{}", mtime=0), {"Content-Encoding": "gzip"}, 200),
        ("a body over the cap", b"{}" + b" " * (1024 * 1024), {}, 413),
    ],
    ids=["not plain", "gzip", "over the cap"],
)
async def test_what_the_lane_does_not_take_goes_through_the_stack(
    api: Harness,
    through_stack: list[str],
    name: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
) -> None:
    await _start(api, "s-1")
    through_stack.clear()
    answer = await _beat(api, content, **headers)
    assert answer.status_code == status, (name, answer.text)
    assert through_stack == ["/v1/sessions/s-1/heartbeat"]


async def test_a_chunked_body_goes_through_the_stack(
    api: Harness, through_stack: list[str]
) -> None:
    await _start(api, "s-1")
    through_stack.clear()

    async def chunks() -> Any:
        yield b"{"
        yield b"}"

    answer = await api.client.post(
        "/v1/sessions/s-1/heartbeat",
        content=chunks(),
        headers={"Content-Type": JSON, **api.auth("ingest")},
    )
    assert answer.status_code == 200
    assert through_stack == ["/v1/sessions/s-1/heartbeat"]


async def test_the_lane_logs_times_and_names_each_request(
    api: Harness, through_stack: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    await _start(api, "s-1")
    through_stack.clear()
    metric = api.runtime.metrics.http_duration
    labels = ("POST", "/v1/sessions/{session_id}/heartbeat", "200")
    before = _count(metric, labels)
    with caplog.at_level(logging.INFO, logger="sessionkeeper.requests"):
        answer = await _beat(api, b"{}", **{"X-Request-ID": "from-the-client"})
        fresh = await _beat(api, b"{}")
    assert through_stack == []
    assert answer.headers["x-request-id"] == "from-the-client"
    assert len(fresh.headers["x-request-id"]) == 32
    lines = [r for r in caplog.records if r.name == "sessionkeeper.requests"]
    assert [r.getMessage() for r in lines] == ["POST /v1/sessions/s-1/heartbeat 200"] * 2
    assert _count(metric, labels) == before + 2


def _count(metric: Any, labels: tuple[str, str, str]) -> float:
    for family in metric.collect():
        for sample in family.samples:
            if (
                sample.name.endswith("_count")
                and (
                    sample.labels.get("method"),
                    sample.labels.get("route"),
                    sample.labels.get("status"),
                )
                == labels
            ):
                return float(sample.value)
    return 0.0


async def test_an_unexpected_error_is_answered_as_the_stack_answers_it(
    api: Harness, monkeypatch: pytest.MonkeyPatch, through_stack: list[str]
) -> None:
    await _start(api, "s-1")

    async def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(api.services.sessions, "heartbeat", failing)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    answers = []
    async with httpx.AsyncClient(transport=transport, base_url="http://sk.test") as client:
        # The lane, then the stack: the lane leaves a gzip body to it.
        for content, coded in ((b"{}", {}), (gzip.compress(b"{}"), {"Content-Encoding": "gzip"})):
            answers.append(
                await client.post(
                    "/v1/sessions/s-1/heartbeat",
                    content=content,
                    headers={"Content-Type": JSON, **coded, **api.auth("ingest")},
                )
            )
    lane, stack = answers
    assert through_stack[-1:] == ["/v1/sessions/s-1/heartbeat"] and len(through_stack) == 2
    for answer in answers:
        assert answer.status_code == 500
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers.get_list("x-request-id") == [answer.json()["request_id"]]
    assert sorted(lane.headers.keys()) == sorted(stack.headers.keys())
