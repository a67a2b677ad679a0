"""Problem+json answers become the client's exceptions, and 4xx are never retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sessionkeeper.client import (
    Client,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ServerUnavailable,
    SessionkeeperError,
    Status,
    Unauthorized,
    UnexpectedResponse,
)
from tests.client.live import FAST, Forwarding, Tenant


def test_unknown_key_is_unauthorized(base_url: str) -> None:
    with Client(base_url, "sk_not-a-key", **FAST) as client, pytest.raises(Unauthorized) as e:
        client.get("anything")
    assert e.value.status == 401
    assert e.value.title == "Unauthorized"
    assert e.value.type == "https://sessionkeeper.dev/problems/unauthorized"
    assert "revoked" in e.value.detail


def test_scope_is_forbidden(base_url: str, tenant: Tenant) -> None:
    with Client(base_url, tenant.read, **FAST) as reader, pytest.raises(Forbidden) as e:
        reader.start("u", "game")
    assert e.value.status == 403
    assert "ingest" in e.value.detail


def test_missing_session_is_not_found(client: Client) -> None:
    with pytest.raises(NotFound) as e:
        client.get("no-such-session")
    assert e.value.status == 404
    assert "no-such-session" in e.value.detail
    with pytest.raises(NotFound):
        client.heartbeat("no-such-session")


def test_invalid_input_names_the_field(client: Client) -> None:
    with pytest.raises(InvalidInput) as e:
        client.start("u", "not a kind!")
    assert e.value.status == 422
    assert e.value.field == "kind"
    assert e.value.errors[0]["field"] == "kind"

    # Refused by a domain rule rather than by request validation: same shape.
    with pytest.raises(InvalidInput) as e:
        client.put_policy("game", heartbeat_interval_s=10, timeout_s=5)
    assert e.value.field == "timeout_s"

    session = client.start("u", "game")
    with pytest.raises(InvalidInput) as e:
        client.heartbeat(session.id, at=datetime.now(UTC) + timedelta(days=1))
    assert e.value.field == "at"


def test_heartbeat_on_a_closed_session_is_a_conflict_with_the_session(client: Client) -> None:
    session = client.start("u", "game")
    ended = client.end(session.id)
    with pytest.raises(Conflict) as e:
        client.heartbeat(session.id)
    assert e.value.status == 409
    assert e.value.session == ended
    assert e.value.session is not None and e.value.session.status is Status.ENDED


def test_naive_datetimes_are_refused_before_sending(client: Client) -> None:
    with pytest.raises(ValueError, match="timezone"):
        client.start("u", "game", started_at=datetime(2026, 1, 1, 12, 0))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_client_errors_are_not_retried(base_url: str, status: int) -> None:
    answers = Forwarding(fault=lambda _request: httpx.Response(status, json={"detail": "no"}))
    with (
        Client(base_url, "k", transport=answers.sync(), **FAST) as client,
        pytest.raises(SessionkeeperError) as e,
    ):
        client.get("x")
    assert len(answers.attempts) == 1
    assert e.value.status == status
    assert not isinstance(e.value, ServerUnavailable)


def test_answers_outside_the_api_are_unexpected(base_url: str) -> None:
    teapot = Forwarding(fault=lambda _request: httpx.Response(418, text="teapot"))
    with (
        Client(base_url, "k", transport=teapot.sync(), **FAST) as client,
        pytest.raises(UnexpectedResponse) as e,
    ):
        client.get("x")
    assert e.value.status == 418

    not_json = Forwarding(fault=lambda _request: httpx.Response(200, text="<html>"))
    with (
        Client(base_url, "k", transport=not_json.sync(), **FAST) as client,
        pytest.raises(UnexpectedResponse),
    ):
        client.get("x")
