"""Transient failures are retried with the same request, so nothing is made twice."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from sessionkeeper.client import AsyncClient, Client, ServerUnavailable
from sessionkeeper.client.retry import MAX_DELAY_S, RetryPolicy
from tests.client.live import FAST, Forwarding, Tenant, problem


def _sent_id(request: httpx.Request) -> str:
    return str(json.loads(request.content)["id"])


def _fail_first(n: int, error: type[Exception] = httpx.ConnectError) -> Forwarding:
    """Fails the first ``n`` requests before they reach the server."""
    count = 0

    def fault(request: httpx.Request) -> Exception | None:
        nonlocal count
        count += 1
        return error("refused", request=request) if count <= n else None

    return Forwarding(fault=fault)


def test_start_is_retried_after_connection_errors_with_the_same_id(
    base_url: str, tenant: Tenant
) -> None:
    network = _fail_first(2)
    with Client(base_url, tenant.admin, transport=network.sync(), **FAST) as client:
        session = client.start("u", "game", label="Chess")
        assert len(network.attempts) == 3 and len(network.delivered) == 1
        assert {_sent_id(r) for r in network.attempts} == {session.id}
        assert [s.id for s in client.iter_sessions(user_id="u")] == [session.id]


def test_start_whose_answer_was_lost_is_not_duplicated(base_url: str, tenant: Tenant) -> None:
    """The server committed the start but the answer never arrived: the retry, carrying the
    same id, is answered with the session already made."""
    answers: list[int] = []

    def lose_first_answer(request: httpx.Request, response: httpx.Response) -> None:
        answers.append(response.status_code)
        if len(answers) == 1:
            raise httpx.ReadError("connection reset", request=request)

    network = Forwarding(after=lose_first_answer)
    with Client(base_url, tenant.admin, transport=network.sync(), **FAST) as client:
        session = client.start("u", "game")
        assert answers[:2] == [201, 200]  # made once, then found
        assert len({_sent_id(r) for r in network.delivered[:2]}) == 1
        assert [s.id for s in client.iter_sessions(user_id="u")] == [session.id]


def test_timeouts_are_retried(base_url: str, tenant: Tenant) -> None:
    network = _fail_first(1, httpx.ReadTimeout)
    with Client(base_url, tenant.admin, transport=network.sync(), **FAST) as client:
        assert client.start("u", "game").is_active
    assert len(network.attempts) == 2


def test_server_errors_and_429_are_retried(base_url: str, tenant: Tenant) -> None:
    answers = iter([problem(500, "Internal error"), problem(429, "Too many requests")])
    network = Forwarding(fault=lambda _request: next(answers, None))
    with Client(base_url, tenant.admin, transport=network.sync(), **FAST) as client:
        assert client.start("u", "game").is_active
    assert len(network.attempts) == 3


def test_retry_after_is_honoured(base_url: str, tenant: Tenant) -> None:
    answers = iter([problem(503, "Storage unavailable", {"Retry-After": "1"})])
    network = Forwarding(fault=lambda _request: next(answers, None))
    with Client(base_url, tenant.admin, transport=network.sync(), **FAST) as client:
        began = time.monotonic()
        client.start("u", "game")
        assert time.monotonic() - began >= 1.0  # and not the backoff's 0.01 s


def test_exhausted_retries_raise_server_unavailable(base_url: str) -> None:
    # A port nobody listens on: real refused connections, each one retried.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    began = time.monotonic()
    with (
        Client(closed, "k", retries=2, backoff=0.05) as client,
        pytest.raises(ServerUnavailable) as e,
    ):
        client.get("x")
    assert time.monotonic() - began >= 0.05 / 2 + 0.1 / 2  # it waited between the attempts
    assert e.value.status is None
    assert isinstance(e.value.__cause__, httpx.ConnectError)

    busy = Forwarding(fault=lambda _r: problem(503, "Storage unavailable", {"Retry-After": "0"}))
    with (
        Client(base_url, "k", transport=busy.sync(), retries=1, backoff=0.01) as client,
        pytest.raises(ServerUnavailable) as e,
    ):
        client.get("x")
    assert len(busy.attempts) == 2
    assert (e.value.status, e.value.retry_after) == (503, 0.0)


def test_other_transport_errors_are_not_retried(tenant: Tenant) -> None:
    with (
        Client("ftp://127.0.0.1", tenant.admin, **FAST) as client,
        pytest.raises(httpx.UnsupportedProtocol),
    ):
        client.get("x")


def test_backoff_grows_with_jitter_and_respects_retry_after() -> None:
    policy = RetryPolicy(retries=5, backoff=0.2)
    for attempt in range(5):
        step = 0.2 * 2**attempt
        waits = [policy.delay(attempt) for _ in range(50)]
        assert all(step / 2 <= w <= step for w in waits)
        assert len(set(waits)) > 1  # jittered, not lockstep
    assert policy.delay(0, retry_after=3) >= 3
    assert policy.delay(0, retry_after=10_000) == MAX_DELAY_S
    assert RetryPolicy(retries=50, backoff=1).delay(40) <= MAX_DELAY_S


async def test_async_start_is_retried_with_the_same_id(base_url: str, tenant: Tenant) -> None:
    network = _fail_first(2)
    async with AsyncClient(base_url, tenant.admin, transport=network.async_(), **FAST) as c:
        session = await c.start("u", "game")
        assert len(network.attempts) == 3
        assert {_sent_id(r) for r in network.attempts} == {session.id}
        assert [s.id async for s in c.iter_sessions(user_id="u")] == [session.id]


async def test_async_exhausted_retries_raise(base_url: str) -> None:
    down = Forwarding(fault=lambda r: httpx.ConnectError("refused", request=r))
    async with AsyncClient(base_url, "k", transport=down.async_(), retries=1, backoff=0.01) as c:
        with pytest.raises(ServerUnavailable):
            await c.get("x")
    assert len(down.attempts) == 2


def test_a_retry_after_of_digits_only_unicode_knows_is_ignored() -> None:
    from sessionkeeper.client.errors import parse_retry_after

    assert parse_retry_after(" 3 ") == 3.0
    assert parse_retry_after("²") is None  # a digit to str.isdigit(), not to float()
    assert parse_retry_after("Tue, 14 Nov 2023 22:15:20 GMT") is None
