"""Hostile and malformed input: the OpenAPI schema fuzzed, plus what a fuzzer rarely hits.

``test_api_conforms`` lets schemathesis generate requests (valid and invalid) for every
operation of the OpenAPI schema, against the app in process on a real SQLite database with an
admin key, and checks that no input gets a 5xx and that every response is documented for its
operation (status, content type) and matches its schema. The explicit tests below cover
inputs a generator seldom produces: malformed JSON, bodies over the size limit (announced or
streamed), unknown fields, naive datetimes, client times outside the accepted window, wrong
types, bad cursors, unknown routes and methods, missing keys and an unreachable database.
Every error must be ``application/problem+json`` with ``type``, ``title``, ``status`` and
``detail``.
"""

from __future__ import annotations

import atexit
import base64
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from sessionkeeper.assembly import create_app
from sessionkeeper.clock import ManualClock
from sessionkeeper.domain.principal import Scope
from sessionkeeper.services.runtime import Runtime
from tests.support import T0, Harness, iso, ms, running_app, settings_for

# --- the schema, fuzzed ------------------------------------------------------------------------

# schemathesis builds one test per operation at collection time, so the app exists at import.
_FUZZ_DIR = tempfile.mkdtemp(prefix="sk-fuzz-")
atexit.register(shutil.rmtree, _FUZZ_DIR, True)
FUZZ_RUNTIME = Runtime.open(settings_for(f"sqlite:///{_FUZZ_DIR}/sk.db"), clock=ManualClock(T0))
FUZZ_RUNTIME.db.migrate()
FUZZ_APP = create_app(FUZZ_RUNTIME, run_jobs=False, migrate=False)
FUZZ_APP.state.services.tenants.create_tenant("default")
FUZZ_KEY = FUZZ_APP.state.services.tenants.create_key("default", Scope.ADMIN)[1]

schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    FUZZ_APP,
    config=schemathesis.Config.from_dict(
        {
            "seed": 20260105,
            "headers": {"Authorization": f"Bearer {FUZZ_KEY}"},
            "checks": {
                # Strict: a status, content type or body the document does not declare for
                # the operation fails the test.
                "status_code_conformance": {"enabled": True},
                "content_type_conformance": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
                # Schema-valid times can lie outside the window the server accepts around its
                # clock, and a schema-valid cursor is not one the server issued: such 422s are
                # correct, so "valid data must be accepted" cannot hold for this API.
                "positive_data_acceptance": {"enabled": False},
                # A generated list over maxItems can also exceed the body limit: 413 rejects it.
                "negative_data_rejection": {
                    "expected-statuses": [400, 401, 403, 404, 405, 409, 413, 422],
                },
            },
        }
    ),
)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate()


# --- helpers for the explicit tests ------------------------------------------------------------

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict:
    """The response is an RFC 9457 problem with this status (and names ``field`` if given)."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM_JSON
    body = response.json()
    for name in ("type", "title", "status", "detail"):
        assert name in body, f"problem body lacks {name!r}: {body}"
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return dict(body)


@asynccontextmanager
async def raw_client(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    """A client that turns an unhandled server error into the 500 a real client would get."""
    transport = httpx.ASGITransport(app=harness.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sk.test", headers=harness.auth()
    ) as client:
        yield client


@pytest.fixture
async def api_raw(api: Harness) -> AsyncIterator[tuple[Harness, httpx.AsyncClient]]:
    async with raw_client(api) as client:
        yield api, client


@pytest.fixture
async def api_raw_any(api_any: Harness) -> AsyncIterator[tuple[Harness, httpx.AsyncClient]]:
    async with raw_client(api_any) as client:
        yield api_any, client


JSON = {"content-type": "application/json"}


async def start(client: httpx.AsyncClient, session_id: str = "s-1") -> dict[str, Any]:
    response = await client.post(
        "/v1/sessions", json={"id": session_id, "user_id": "u", "kind": "game"}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def cursor_of(value: object) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- malformed bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"user_id": "u", "kind": ', id="truncated"),
        pytest.param(b"user_id=u&kind=game", id="not-json"),
        pytest.param(b'{"user_id": "u", "kind": "game",}', id="trailing-comma"),
        pytest.param(b"{'user_id': 'u', 'kind': 'game'}", id="single-quotes"),
        pytest.param(b'{"user_id": "u", "kind": "game"} {}', id="two-documents"),
        pytest.param(b'{"user_id": "\xff\xfe", "kind": "game"}', id="invalid-utf8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
        pytest.param(b'{"user_id": "u", "kind": "game", "attributes": {"x": NaN}}', id="NaN"),
        pytest.param(b'{"user_id": "u", "kind": "game", "attributes": {"x": -Infinity}}', id="inf"),
    ],
)
async def test_malformed_json_is_422(api_raw: tuple[Harness, httpx.AsyncClient], raw: bytes):
    _, client = api_raw
    response = await client.post("/v1/sessions", content=raw, headers=JSON)
    assert_problem(response, 422, field="body")
    listed = await client.get("/v1/sessions")
    assert listed.json()["items"] == [], "a malformed body must not start a session"


async def test_non_finite_numbers_never_reach_the_database(
    api_raw_any: tuple[Harness, httpx.AsyncClient],
) -> None:
    """NaN is not JSON: storing it changes the data (SQLite) or fails the insert (PostgreSQL)."""
    _, client = api_raw_any
    raw = b'{"id": "nan", "user_id": "u", "kind": "game", "attributes": {"x": NaN}}'
    response = await client.post("/v1/sessions", content=raw, headers=JSON)
    assert_problem(response, 422)
    assert_problem(await client.get("/v1/sessions/nan"), 404)


async def test_wrong_content_type_is_422(api_raw: tuple[Harness, httpx.AsyncClient]) -> None:
    _, client = api_raw
    response = await client.post(
        "/v1/sessions", content=b"user_id=u", headers={"content-type": "text/plain"}
    )
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"user_id": "\ud800", "kind": "game"}, id="lone-surrogate"),
        pytest.param({"user_id": "u", "kind": "game\n"}, id="kind-trailing-newline"),
        pytest.param({"user_id": "", "kind": "game"}, id="empty-user"),
        pytest.param({"user_id": "u" * 257, "kind": "game"}, id="user-too-long"),
        pytest.param({"id": "has space", "user_id": "u", "kind": "game"}, id="bad-id"),
        pytest.param({"id": "x" * 65, "user_id": "u", "kind": "game"}, id="id-too-long"),
        pytest.param(
            {"user_id": "u", "kind": "game", "attributes": {str(i): i for i in range(101)}},
            id="too-many-attributes",
        ),
    ],
)
async def test_out_of_range_strings_are_422(
    api_raw: tuple[Harness, httpx.AsyncClient], body: dict[str, Any]
) -> None:
    _, client = api_raw
    raw = json.dumps(body).encode()  # a lone surrogate travels as its JSON escape
    response = await client.post("/v1/sessions", content=raw, headers=JSON)
    assert_problem(response, 422)


async def test_nul_characters_are_stored_exactly_or_refused(
    api_raw_any: tuple[Harness, httpx.AsyncClient],
) -> None:
    """NUL is valid in JSON strings; PostgreSQL text cannot hold it. Never a 500."""
    _, client = api_raw_any
    body = {"id": "nul", "user_id": "a\u0000b", "kind": "game", "label": "x\u0000"}
    response = await client.post("/v1/sessions", json=body)
    assert response.status_code in (201, 422), response.text[:300]
    if response.status_code == 201:
        stored = (await client.get("/v1/sessions/nul")).json()
        assert (stored["user_id"], stored["label"]) == ("a\u0000b", "x\u0000")
    else:
        assert_problem(response, 422)
    listed = await client.get("/v1/sessions", params={"user_id": "a\u0000b"})
    assert listed.status_code in (200, 422), listed.text[:300]


# --- the body size limit -----------------------------------------------------------------------

LIMIT = 1024 * 1024


def oversized_start() -> bytes:
    body = json.dumps({"user_id": "u", "kind": "game", "attributes": {"pad": "x" * LIMIT}})
    return body.encode()


async def test_body_over_limit_is_413(api_raw: tuple[Harness, httpx.AsyncClient]) -> None:
    _, client = api_raw
    raw = oversized_start()
    response = await client.post("/v1/sessions", content=raw, headers=JSON)
    assert_problem(response, 413)
    assert (await client.get("/v1/sessions")).json()["items"] == []


async def test_body_at_limit_is_read(api_raw: tuple[Harness, httpx.AsyncClient]) -> None:
    _, client = api_raw
    raw = b'{"user_id": "u", "kind": "game"}'
    raw += b" " * (LIMIT - len(raw))
    response = await client.post("/v1/sessions", content=raw, headers=JSON)
    assert response.status_code == 201, response.text


async def test_streamed_body_over_limit_is_413(api_raw: tuple[Harness, httpx.AsyncClient]):
    """Chunked transfer, no content-length: the limit is enforced while reading."""
    _, client = api_raw
    raw = oversized_start()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 64 * 1024):
            yield raw[i : i + 64 * 1024]

    request = client.build_request("POST", "/v1/sessions", content=chunks(), headers=JSON)
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = await client.send(request)
    assert_problem(response, 413)
    assert (await client.get("/v1/sessions")).json()["items"] == []


# --- unknown fields, naive datetimes, the client time window --------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/sessions", {"user_id": "u", "kind": "game", "colour": 1}, "colour"),
        ("POST", "/v1/sessions/s-1/heartbeat", {"at": None, "atributes": {}}, "atributes"),
        ("POST", "/v1/sessions/s-1/end", {"reason": "client", "when": "now"}, "when"),
        (
            "POST",
            "/v1/heartbeats",
            {"heartbeats": [{"session_id": "s-1", "time": "x"}]},
            "heartbeats.0.time",
        ),
        ("PUT", "/v1/policies/game", {"timeout_s": 60, "timeout": 60}, "timeout"),
        (
            "POST",
            "/v1/presence/bot/changes",
            {"joins": [], "leave": []},
            "leave",
        ),
    ],
)
async def test_unknown_fields_are_422_naming_the_field(
    api_raw: tuple[Harness, httpx.AsyncClient],
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    _, client = api_raw
    await start(client)
    response = await client.request(method, path, json=body)
    problem = assert_problem(response, 422, field=field)
    assert field.rsplit(".", 1)[-1] in problem["detail"]


NAIVE = "2026-01-05T09:00:00"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/v1/sessions",
            {"user_id": "u", "kind": "game", "started_at": NAIVE},
            "started_at",
        ),
        ("POST", "/v1/sessions/s-1/heartbeat", {"at": NAIVE}, "at"),
        ("POST", "/v1/sessions/s-1/end", {"at": NAIVE}, "at"),
        (
            "POST",
            "/v1/heartbeats",
            {"heartbeats": [{"session_id": "s-1", "at": NAIVE}]},
            "heartbeats.0.at",
        ),
        ("PUT", "/v1/presence/bot", {"entries": [], "at": NAIVE}, "at"),
        ("POST", "/v1/presence/bot/changes", {"joins": [], "at": NAIVE}, "at"),
    ],
)
async def test_naive_datetimes_are_422(
    api_raw: tuple[Harness, httpx.AsyncClient],
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    _, client = api_raw
    await start(client)
    response = await client.request(method, path, json=body)
    problem = assert_problem(response, 422)
    assert "timezone" in problem["detail"]
    assert problem["field"] == field
    session = (await client.get("/v1/sessions/s-1")).json()
    assert session["status"] == "active" and session["last_seen_at"] == session["started_at"]


async def test_naive_datetime_in_query_is_422(api_raw: tuple[Harness, httpx.AsyncClient]):
    _, client = api_raw
    response = await client.get("/v1/sessions", params={"started_after": NAIVE})
    assert_problem(response, 422, field="started_after")


FUTURE_MS = 5 * 60 * 1000
PAST_MS = 24 * 3600 * 1000


def time_cases() -> list[Any]:
    cases = []
    for label, offset, ok in [
        ("5min-ahead", FUTURE_MS, True),
        ("just-over-5min-ahead", FUTURE_MS + 1, False),
        ("1h-ahead", 3600 * 1000, False),
        ("24h-ago", -PAST_MS, True),
        ("just-over-24h-ago", -PAST_MS - 1, False),
        ("a-year-ago", -365 * PAST_MS, False),
    ]:
        cases.append(pytest.param(offset, ok, id=label))
    return cases


@pytest.mark.parametrize(("offset_ms", "accepted"), time_cases())
async def test_client_times_outside_the_window_are_422_naming_the_field(
    api_raw: tuple[Harness, httpx.AsyncClient], offset_ms: int, accepted: bool
) -> None:
    harness, client = api_raw
    at = iso(T0 + offset_ms)
    # A session that began before the window and stays alive across it, so that every 'at'
    # inside the window is a valid heartbeat and end.
    policy = {"heartbeat_interval_s": 3600, "timeout_s": 3 * 86400}
    assert (await client.put("/v1/policies/game", json=policy)).status_code == 200
    harness.clock.set(T0 - PAST_MS - 1000)
    await start(client, "early")
    harness.clock.set(T0)
    requests: list[tuple[str, str, Any, tuple[str, ...]]] = [
        (
            "POST",
            "/v1/sessions",
            {"user_id": "u", "kind": "game", "started_at": at},
            ("started_at",),
        ),
        ("POST", "/v1/sessions/early/heartbeat", {"at": at}, ("at",)),
        (
            "POST",
            "/v1/heartbeats",
            {"heartbeats": [{"session_id": "early", "at": at}]},
            # The schema's validation errors spell it heartbeats.0.at.
            ("heartbeats.0.at", "heartbeats[0].at"),
        ),
        ("PUT", "/v1/presence/bot", {"entries": [], "at": at}, ("at",)),
        ("POST", "/v1/presence/bot/changes", {"joins": [], "at": at}, ("at",)),
        ("POST", "/v1/sessions/early/end", {"at": at}, ("at",)),
    ]
    for method, path, body, fields in requests:
        response = await client.request(method, path, json=body)
        if accepted:
            assert response.status_code in (200, 201), (path, response.text)
            continue
        problem = assert_problem(response, 422)
        assert problem.get("field") in fields, (path, problem)
        assert problem["field"] in problem["detail"]
    session = (await client.get("/v1/sessions/early")).json()
    if accepted:
        assert session["status"] == "ended"
        # A time ahead of the server clock is taken as the server's now.
        shown = (at if ms(at) <= T0 else iso(T0)).replace("+00:00", "Z")
        assert session["ended_at"] == session["last_seen_at"] == shown
    else:
        assert session["status"] == "active", "a refused time must change nothing"
        assert session["last_seen_at"] == session["started_at"]
        assert len((await client.get("/v1/sessions")).json()["items"]) == 1


# --- wrong types, limits, cursors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/sessions", {"user_id": 42, "kind": "game"}, "user_id"),
        ("POST", "/v1/sessions", {"user_id": "u", "kind": ["game"]}, "kind"),
        ("POST", "/v1/sessions", {"user_id": "u", "kind": "game", "label": 7}, "label"),
        ("POST", "/v1/sessions", {"user_id": "u", "kind": "game", "attributes": "x"}, "attributes"),
        (
            "POST",
            "/v1/sessions",
            {"user_id": "u", "kind": "game", "started_at": T0 // 1000},
            "started_at",
        ),
        ("POST", "/v1/sessions", ["u", "game"], "body"),
        ("POST", "/v1/sessions", None, "body"),
        ("POST", "/v1/sessions/s-1/heartbeat", {"at": True}, "at"),
        ("POST", "/v1/sessions/s-1/heartbeat", {"at": T0 // 1000}, "at"),
        ("POST", "/v1/sessions/s-1/heartbeat", [], "body"),
        ("POST", "/v1/sessions/s-1/end", {"reason": "timeout"}, "reason"),
        ("POST", "/v1/sessions/s-1/end", {"reason": 1}, "reason"),
        ("POST", "/v1/heartbeats", {"heartbeats": "s-1"}, "heartbeats"),
        ("POST", "/v1/heartbeats", {"heartbeats": []}, "heartbeats"),
        ("POST", "/v1/heartbeats", {"heartbeats": [{"session_id": 1}]}, "heartbeats.0.session_id"),
        (
            "POST",
            "/v1/heartbeats",
            {"heartbeats": [{"session_id": "s-1"}] * 1001},
            "heartbeats",
        ),
        ("PUT", "/v1/policies/game", {"timeout_s": "60"}, "timeout_s"),
        ("PUT", "/v1/policies/game", {"grace_s": False}, "grace_s"),
        ("PUT", "/v1/policies/game", {"heartbeat_interval_s": 0.5}, "heartbeat_interval_s"),
        ("PUT", "/v1/policies/game", {"heartbeat_interval_s": 60, "timeout_s": 30}, "timeout_s"),
        ("PUT", "/v1/presence/bot", {"entries": [{"user_id": "u"}]}, None),
        ("POST", "/v1/presence/bot/changes", {"keepalive": "yes"}, "keepalive"),
    ],
)
async def test_wrong_types_are_422(
    api_raw: tuple[Harness, httpx.AsyncClient],
    method: str,
    path: str,
    body: Any,
    field: str | None,
) -> None:
    _, client = api_raw
    await start(client)
    before = (await client.get("/v1/sessions/s-1")).json()
    response = await client.request(method, path, content=json.dumps(body).encode(), headers=JSON)
    assert_problem(response, 422, field=field)
    assert (await client.get("/v1/sessions/s-1")).json() == before
    assert len((await client.get("/v1/sessions")).json()["items"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 10**40}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"status": "sleeping"}, "status"),
        ({"kind": "no spaces"}, "kind"),
        ({"started_after": "yesterday"}, "started_after"),
        ({"started_before": "0.5"}, "started_before"),
        ({"started_after": str(T0 // 1000)}, "started_after"),
        ({"user_id": "u" * 257}, "user_id"),
    ],
)
async def test_bad_query_parameters_are_422(
    api_raw: tuple[Harness, httpx.AsyncClient], params: dict[str, Any], field: str
) -> None:
    _, client = api_raw
    assert_problem(await client.get("/v1/sessions", params=params), 422, field=field)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!not-base64!!!", id="not-base64"),
        pytest.param("eA", id="not-json"),
        pytest.param(cursor_of({"started_at": 1, "id": "x"}), id="object"),
        pytest.param(cursor_of([1, 2, 3]), id="three-items"),
        pytest.param(cursor_of(["1", "x"]), id="string-time"),
        pytest.param(cursor_of([1.5, "x"]), id="float-time"),
        pytest.param(cursor_of([1, None]), id="null-id"),
        pytest.param(cursor_of([10**30, "x"]), id="time-too-large"),
        pytest.param(cursor_of([-(10**30), "x"]), id="time-too-small"),
        pytest.param(cursor_of([2**63, "x"]), id="time-just-over-int64"),
        pytest.param("A" * 1025, id="too-long"),
    ],
)
async def test_bad_cursor_is_422(api_raw: tuple[Harness, httpx.AsyncClient], cursor: str):
    _, client = api_raw
    await start(client)
    response = await client.get("/v1/sessions", params={"cursor": cursor})
    assert_problem(response, 422, field="cursor")


async def test_issued_cursor_still_works(api_raw: tuple[Harness, httpx.AsyncClient]) -> None:
    harness, client = api_raw
    for i in range(3):
        await start(client, f"s-{i}")
        harness.clock.advance(1)
    first = (await client.get("/v1/sessions", params={"limit": 2})).json()
    assert [s["id"] for s in first["items"]] == ["s-2", "s-1"]
    rest = await client.get("/v1/sessions", params={"limit": 2, "cursor": first["next_cursor"]})
    assert rest.status_code == 200
    assert [s["id"] for s in rest.json()["items"]] == ["s-0"]


# --- routes, methods, keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/v1"),
        ("POST", "/v1/sessions/s-1/restart"),
        ("GET", "/v2/sessions"),
        ("GET", "/v1/sessions/s-1/heartbeat/extra"),
    ],
)
async def test_unknown_route_is_404(
    api_raw: tuple[Harness, httpx.AsyncClient], method: str, path: str
) -> None:
    _, client = api_raw
    assert_problem(await client.request(method, path), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/sessions", {"GET", "POST"}),
        ("PUT", "/v1/sessions", {"GET", "POST"}),
        ("PATCH", "/v1/sessions/s-1", {"GET"}),
        ("GET", "/v1/sessions/s-1/heartbeat", {"POST"}),
        ("DELETE", "/v1/policies/game", {"PUT"}),
        ("POST", "/v1/health", {"GET"}),
        ("GET", "/v1/maintenance/sweep", {"POST"}),
    ],
)
async def test_wrong_method_is_405_with_allow(
    api_raw: tuple[Harness, httpx.AsyncClient], method: str, path: str, allowed: set[str]
) -> None:
    _, client = api_raw
    response = await client.request(method, path)
    assert_problem(response, 405)
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer sk_not-a-key", id="unknown"),
        pytest.param("Bearer ", id="empty-bearer"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic"),
        pytest.param("sk_no-scheme", id="no-scheme"),
        pytest.param("Bearer " + "x" * 10_000, id="huge"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/sessions"), ("POST", "/v1/sessions"), ("POST", "/v1/maintenance/sweep")],
)
async def test_missing_or_invalid_key_is_401(
    api: Harness, authorization: str | None, method: str, path: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sk.test") as client:
        response = await client.request(
            method, path, json={"user_id": "u", "kind": "game"}, headers=headers
        )
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_revoked_key_is_401(tmp_path: Path) -> None:
    async with running_app(f"sqlite:///{tmp_path / 'sk.db'}", key_cache_ttl_s=0) as harness:
        tenants = harness.services.tenants
        key_id = tenants.list_keys("default")[-1].id  # the read key, made last
        tenants.revoke_key(key_id)
        async with raw_client(harness) as client:
            response = await client.get("/v1/sessions", headers=harness.auth("read"))
        assert_problem(response, 401)


async def test_wrong_scope_is_403(api_raw: tuple[Harness, httpx.AsyncClient]) -> None:
    harness, client = api_raw
    response = await client.post(
        "/v1/sessions", json={"user_id": "u", "kind": "game"}, headers=harness.auth("read")
    )
    assert_problem(response, 403)


# --- the database out of reach -----------------------------------------------------------------


@pytest.mark.parametrize("which", ["postgresql-closed-port", "sqlite-missing-directory"])
async def test_unreachable_database_is_503_with_retry_after(tmp_path: Path, which: str) -> None:
    if which == "postgresql-closed-port":
        url = "postgresql://sessionkeeper@127.0.0.1:1/sessionkeeper"
    else:
        url = f"sqlite:///{tmp_path / 'no-such-directory' / 'sk.db'}"
    runtime = Runtime.open(settings_for(url), clock=ManualClock(T0))
    app = create_app(runtime, run_jobs=False, migrate=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://sk.test") as client:
            headers = {"Authorization": "Bearer sk_whatever-it-is"}
            for method, path, body in [
                ("GET", "/v1/sessions", None),
                ("POST", "/v1/sessions", {"user_id": "u", "kind": "game"}),
                ("POST", "/v1/heartbeats", {"heartbeats": [{"session_id": "s"}]}),
            ]:
                response = await client.request(method, path, json=body, headers=headers)
                assert_problem(response, 503)
                assert int(response.headers["retry-after"]) > 0
                # The detail names the cause, not just the driver's exception class.
                cause = "Connection refused" if which.startswith("postgresql") else "does not exist"
                assert cause in response.json()["detail"]
            # Session health reports the outage in a 200 body, even before the key is known.
            health = await client.get("/v1/health", headers=headers)
            assert health.status_code == 200
            assert health.json()["status"] == "down" and health.json()["database"] is False
            # Liveness does not touch the database.
            assert (await client.get("/healthz")).status_code == 200
    finally:
        runtime.close()


@pytest.fixture
async def api_long_key_cache(tmp_path: Path) -> AsyncIterator[Harness]:
    home = tmp_path / "data"
    home.mkdir()
    async with running_app(f"sqlite:///{home / 'sk.db'}", key_cache_ttl_s=300) as harness:
        yield harness


async def test_database_lost_after_start_is_503_on_writes(
    api_long_key_cache: Harness, tmp_path: Path
) -> None:
    """A key checked while the database was up (and cached) meets a database now gone."""
    harness = api_long_key_cache
    home = tmp_path / "data"
    async with raw_client(harness) as client:
        await start(client)
        harness.runtime.db.writer.close()
        harness.runtime.db.write_engine.dispose()
        harness.runtime.db.read_engine.dispose()
        home.rename(tmp_path / "moved")
        try:
            for method, path, body in [
                ("POST", "/v1/sessions", {"user_id": "u", "kind": "game"}),
                ("POST", "/v1/sessions/s-1/heartbeat", None),
                ("POST", "/v1/heartbeats", {"heartbeats": [{"session_id": "s-1"}]}),
                ("POST", "/v1/sessions/s-1/end", None),
                ("GET", "/v1/sessions/s-1", None),
                ("GET", "/v1/sessions", None),
            ]:
                response = await client.request(method, path, json=body)
                assert_problem(response, 503)
                assert int(response.headers["retry-after"]) > 0
            health = await client.get("/v1/health")
            assert health.status_code == 200
            assert health.json()["status"] == "down"
            assert health.json()["database"] is False
        finally:
            (tmp_path / "moved").rename(home)
        # Back again: the refused end can simply be retried.
        response = await client.post("/v1/sessions/s-1/end")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ended"


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-01:00", "9999-12-31T23:59:59.9999Z"]
)
async def test_a_filter_time_outside_the_years_1_to_9999_in_utc_is_422(
    api_raw: tuple[Harness, httpx.AsyncClient], value: str
) -> None:
    _, client = api_raw
    for param in ("started_after", "ended_before"):
        response = await client.get("/v1/sessions", params={param: value})
        problem = assert_problem(response, 422, field=param)
        assert "years 1 to 9999" in problem["detail"]
    edge = await client.get("/v1/sessions", params={"started_after": "0001-01-01T00:00:00Z"})
    assert edge.status_code == 200, edge.text
