"""Edges of the heartbeat route's plain case: each request is sent as served (the express lane
and the route's own plain case) and to the route FastAPI declared through the whole stack
(the lane closed and ``HeartbeatRoute.handle`` removed, so ``APIRoute.handle`` answers: not
even the body replay is in the way), and the answers must agree, headers included."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from sessionkeeper.api.express import ExpressLane
from sessionkeeper.api.heartbeat_route import HeartbeatRoute
from tests.api.test_heartbeat_route import watch_the_plain_case
from tests.support import T0, Harness, iso, running_app

JSON = "application/json"
Ways = Callable[..., Awaitable[tuple[httpx.Response, httpx.Response]]]


async def _start(api: Harness, *ids: str, key: str = "ingest") -> None:
    for session_id in ids:
        body = {"id": session_id, "user_id": "u", "kind": "game", "started_at": iso(T0 - 5_000)}
        started = await api.client.post("/v1/sessions", json=body, headers=api.auth(key))
        assert started.status_code == 201, started.text


def _declared(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A context in which the heartbeat is answered by the declared route alone."""
    patch = monkeypatch.context()
    patched = patch.__enter__()
    patched.delattr(HeartbeatRoute, "handle")
    patched.setattr(ExpressLane, "route_for", lambda _lane, _scope: None)
    return patch


async def _both(
    api: Harness,
    monkeypatch: pytest.MonkeyPatch,
    send: Callable[[str], Awaitable[httpx.Response]],
    ids: tuple[str, str] = ("a-s", "b-s"),
) -> tuple[httpx.Response, httpx.Response]:
    """``send`` for the first id as served, for the second through the declared route."""
    served = await send(ids[0])
    patch = _declared(monkeypatch)
    try:
        declared = await send(ids[1])
    finally:
        patch.__exit__(None, None, None)
    return served, declared


def _same(served: httpx.Response, declared: httpx.Response, ids: tuple[str, str]) -> None:
    """Equal answers, the session ids (and, of a compressed answer, its length) aside."""

    def view(response: httpx.Response, session_id: str) -> tuple[int, dict[str, str], Any]:
        text = response.text.replace(session_id, "<s>").replace(session_id[0] + " s", "<s>")
        body = json.loads(text) if text else None
        if isinstance(body, dict):
            body.pop("request_id", None)
        gzipped = response.headers.get("content-encoding") == "gzip"
        headers = {
            k: v.replace(session_id, "<s>")
            for k, v in response.headers.items()
            if k != "x-request-id" and not (gzipped and k == "content-length")
        }
        return response.status_code, headers, body

    assert view(served, ids[0]) == view(declared, ids[1])


# --- bodies that never become the plain case ----------------------------------------------


@pytest.mark.parametrize(
    "nested", [b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000]
)
async def test_deeply_nested_json_is_refused_as_the_declared_route_refuses_it(
    api: Harness, monkeypatch: pytest.MonkeyPatch, nested: bytes
) -> None:
    # The decoder's recursion gives out: FastAPI turns any body-decoding error into its 400
    # (our 422), and so must the plain case, by leaving such a body to it.
    await _start(api, "a-s", "b-s")
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sk.test") as client:

        async def send(session_id: str) -> httpx.Response:
            headers = {**api.auth("ingest"), "Content-Type": JSON}
            return await client.post(
                f"/v1/sessions/{session_id}/heartbeat", content=nested, headers=headers
            )

        served, declared = await _both(api, monkeypatch, send)
    assert declared.status_code == 422
    _same(served, declared, ("a-s", "b-s"))


async def _asgi(
    api: Harness,
    session_id: str,
    messages: list[dict[str, Any]],
    headers: list[tuple[bytes, bytes]],
) -> list[dict[str, Any]]:
    """The app called directly: ``messages`` are what the server's receive gives, then a
    disconnect for ever (a client gone)."""
    queue = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = f"/v1/sessions/{session_id}/heartbeat"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"sk.test"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("sk.test", 80),
        "extensions": {},
    }
    try:
        await api.app(scope, receive, send)
    except Exception as exc:  # what reaches the server
        sent.append({"type": "raised", "error": repr(exc)})
    return sent


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([], id="gone before any body"),
        pytest.param(
            [{"type": "http.request", "body": b"{}", "more_body": True}], id="gone mid-body"
        ),
    ],
)
async def test_a_client_gone_before_its_body_ended_beats_nothing(
    api: Harness, monkeypatch: pytest.MonkeyPatch, messages: list[dict[str, Any]]
) -> None:
    # A body cut off by the disconnect is no body: FastAPI's request.body() raises
    # ClientDisconnect there (its 400: our 422) and the session is left as it was; nothing of
    # the prefix may be taken for the whole body.
    await _start(api, "a-s", "b-s")
    headers = [
        (b"authorization", f"Bearer {api.keys['ingest']}".encode()),
        (b"content-type", JSON.encode()),
        (b"content-length", b"30"),
    ]
    api.advance(2)
    served = await _asgi(api, "a-s", list(messages), headers)
    patch = _declared(monkeypatch)
    try:
        declared = await _asgi(api, "b-s", list(messages), headers)
    finally:
        patch.__exit__(None, None, None)
    seen = {}
    for session_id in ("a-s", "b-s"):
        got = await api.get(f"/v1/sessions/{session_id}")
        seen[session_id] = got.json()["last_seen_at"]
    statuses = [
        next(m.get("status") for m in sent if m["type"] != "http.response.body")
        for sent in (served, declared)
    ]
    assert seen["a-s"] == seen["b-s"], f"served beat the session: {seen}, statuses {statuses}"
    assert statuses[0] == statuses[1]


# --- the rest of the edges ---------------------------------------------------------------


def _gzipped(value: bytes) -> bytes:
    # mtime=0: the same bytes in every process, so xdist's workers collect the same tests.
    return gzip.compress(value, mtime=0)


_BODIES_AND_CODINGS = [
    (
        "gzip plain",
        _gzipped(json.dumps({"at": iso(T0 - 1000)}).encode()),
        {"Content-Encoding": "gzip"},
    ),
    ("gzip empty", _gzipped(b""), {"Content-Encoding": "gzip"}),
    ("gzip broken", b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}),
    ("gzip bomb", _gzipped(b" " * (2 * 1024 * 1024) + b"{}"), {"Content-Encoding": "gzip"}),
    ("deflate", b"x", {"Content-Encoding": "br"}),
    ("over the cap", b'{"attributes": {"k": "' + b"v" * (1024 * 1024) + b'"}}', {}),
    ("whitespace only", b"  ", {}),
    ("bad utf-8", b'{"at": "\xff"}', {}),
    ("surrogate", b'{"attributes": {"k": "\\ud800"}}', {}),
    ("uppercase type", json.dumps({}).encode(), {"Content-Type": "APPLICATION/JSON"}),
    ("empty type", b"{}", {"Content-Type": ""}),
    ("utf-16", json.dumps({"at": iso(T0 - 1000)}).encode("utf-16"), {}),
]


@pytest.mark.parametrize(
    ("name", "body", "headers"),
    _BODIES_AND_CODINGS,
    ids=[case[0] for case in _BODIES_AND_CODINGS],
)
async def test_bodies_and_codings_are_answered_as_declared(
    api: Harness,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    body: bytes,
    headers: dict[str, str],
) -> None:
    await _start(api, "a-s", "b-s")

    async def send(session_id: str) -> httpx.Response:
        sent = {"Content-Type": JSON, **api.auth("ingest"), **headers}
        return await api.client.post(
            f"/v1/sessions/{session_id}/heartbeat", content=body, headers=sent
        )

    served, declared = await _both(api, monkeypatch, send)
    _same(served, declared, ("a-s", "b-s"))


async def test_a_chunked_body_over_the_cap_is_refused_as_declared(
    api: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _start(api, "a-s", "b-s")

    async def send(session_id: str) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"attributes": {"k": "'
            for _ in range(20):
                yield b"v" * 65536
            yield b'"}}'

        return await api.client.post(
            f"/v1/sessions/{session_id}/heartbeat",
            content=chunks(),
            headers={"Content-Type": JSON, **api.auth("ingest")},
        )

    served, declared = await _both(api, monkeypatch, send)
    assert served.status_code == 413
    _same(served, declared, ("a-s", "b-s"))


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
async def test_other_methods_and_a_trailing_slash_as_declared(
    api: Harness, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    await _start(api, "a-s", "b-s")
    for suffix in ("", "/"):

        async def send(session_id: str, suffix: str = suffix) -> httpx.Response:
            return await api.client.request(
                method, f"/v1/sessions/{session_id}/heartbeat{suffix}", headers=api.auth("ingest")
            )

        served, declared = await _both(api, monkeypatch, send)
        _same(served, declared, ("a-s", "b-s"))
    post_slash = await api.client.post("/v1/sessions/a-s/heartbeat/", headers=api.auth("ingest"))
    assert post_slash.status_code in (307, 404)


@pytest.mark.parametrize("path_id", ["a%2Ds", "a%20s", "%E2%82%AC", "a-s%3F"])
async def test_percent_encoded_ids_as_declared(
    api: Harness, monkeypatch: pytest.MonkeyPatch, path_id: str
) -> None:
    await _start(api, "a-s", "b-s")

    async def send(session_id: str) -> httpx.Response:
        raw = path_id.replace("a", session_id[0], 1) if session_id == "b-s" else path_id
        return await api.client.post(
            f"/v1/sessions/{raw}/heartbeat",
            json={"at": iso(T0 - 1000)},
            headers=api.auth("ingest"),
        )

    served, declared = await _both(api, monkeypatch, send)
    _same(served, declared, ("a-s", "b-s"))


async def test_client_request_ids_and_gzip_responses_as_declared(
    api: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _start(api, "a-s", "b-s")
    big = {"attributes": {f"k{i}": "v" * 40 for i in range(40)}}

    async def send(session_id: str) -> httpx.Response:
        headers = {**api.auth("ingest"), "X-Request-ID": "client-id-1", "Accept-Encoding": "gzip"}
        return await api.client.post(
            f"/v1/sessions/{session_id}/heartbeat", json=big, headers=headers
        )

    served, declared = await _both(api, monkeypatch, send)
    assert served.headers["x-request-id"] == declared.headers["x-request-id"] == "client-id-1"
    _same(served, declared, ("a-s", "b-s"))


@pytest.fixture
async def limited(sqlite_url: str) -> AsyncIterator[Harness]:
    async with running_app(sqlite_url, rate_limit_per_key=0.001, rate_limit_burst=6) as api:
        yield api


@pytest.mark.parametrize("body", [b"{}", b'{"extra": 1}', b""])
async def test_each_heartbeat_takes_one_token_whichever_way_it_goes(
    limited: Harness, monkeypatch: pytest.MonkeyPatch, body: bytes
) -> None:
    api = limited
    await _start(api, "a-s", "b-s", key="admin")  # the admin key's bucket, not ingest's

    async def beat(session_id: str) -> list[int]:
        statuses = []
        for _ in range(4):
            answer = await api.client.post(
                f"/v1/sessions/{session_id}/heartbeat",
                content=body,
                headers={"Content-Type": JSON, **api.auth("ingest")},
            )
            statuses.append(answer.status_code)
        return statuses

    served = await beat("a-s")  # tokens 1-3 accepted, ... 6 in the bucket
    patch = _declared(monkeypatch)
    try:
        declared = await beat("b-s")
    finally:
        patch.__exit__(None, None, None)
    ok = 422 if body == b'{"extra": 1}' else 200
    # Six tokens, eight requests: the first six answered, the last two 429.
    assert served + declared == [ok] * 6 + [429, 429]


OPERATOR_KEY = "op-" + "k" * 40


@pytest.fixture
async def operated(sqlite_url: str) -> AsyncIterator[Harness]:
    async with running_app(sqlite_url, operator_key=OPERATOR_KEY, key_cache_ttl_s=0) as api:
        yield api


@pytest.mark.parametrize("tenant", [None, "default", "nope"])
@pytest.mark.parametrize("body", [b"{}", b'{"extra": 1}'])
async def test_the_operator_key_as_declared(
    operated: Harness, monkeypatch: pytest.MonkeyPatch, tenant: str | None, body: bytes
) -> None:
    api = operated
    await _start(api, "a-s", "b-s")

    async def send(session_id: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {OPERATOR_KEY}", "Content-Type": JSON}
        if tenant is not None:
            headers["Sessionkeeper-Tenant"] = tenant
        return await api.client.post(
            f"/v1/sessions/{session_id}/heartbeat", content=body, headers=headers
        )

    served, declared = await _both(api, monkeypatch, send)
    _same(served, declared, ("a-s", "b-s"))


@pytest.mark.parametrize("error", ["unexpected", "domain"])
async def test_an_error_of_the_service_as_declared(
    api: Harness, monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    from sessionkeeper import errors

    await _start(api, "a-s", "b-s")

    async def failing(*_args: Any, **_kwargs: Any) -> Any:
        if error == "unexpected":
            raise RuntimeError("boom")
        raise errors.StorageUnavailable("the database is away")

    monkeypatch.setattr(api.services.sessions, "heartbeat", failing)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sk.test") as client:

        async def send(session_id: str) -> httpx.Response:
            return await client.post(
                f"/v1/sessions/{session_id}/heartbeat", json={}, headers=api.auth("ingest")
            )

        served, declared = await _both(api, monkeypatch, send)
    assert served.status_code in (500, 503)
    _same(served, declared, ("a-s", "b-s"))


async def test_metrics_label_the_route_template_whichever_way(
    api: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _start(api, "a-s")
    taken = watch_the_plain_case(monkeypatch)
    for body in (b"{}", b'{"extra": 1}'):
        await api.client.post(
            "/v1/sessions/a-s/heartbeat",
            content=body,
            headers={"Content-Type": JSON, **api.auth("ingest")},
        )
    assert taken == [True, False]
    labels = {
        (
            s.labels["method"],
            s.labels.get("route") or s.labels.get("path") or "",
            s.labels.get("status"),
        )
        for m in api.runtime.metrics.http_duration.collect()
        for s in m.samples
        if s.name.endswith("_count")
    }
    templates = {label[1] for label in labels}
    assert "/v1/sessions/{session_id}/heartbeat" in templates, labels
    assert not any("a-s" in t for t in templates)


async def test_the_openapi_document_declares_the_heartbeat_body(api: Harness) -> None:
    document = (await api.client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/sessions/{session_id}/heartbeat"]["post"]
    assert "requestBody" in operation
    assert {"200", "404", "409", "422"} <= set(operation["responses"])
