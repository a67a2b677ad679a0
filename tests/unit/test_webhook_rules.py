"""The webhook rules, table-driven: the spec's signing test vector, the retry schedule with
jitter and Retry-After, what follows an attempt, event types and bodies, and which targets
are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sessionkeeper.domain.events import (
    HeartbeatsApplied,
    SessionAmended,
    SessionEnded,
    SessionStarted,
)
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.webhooks import rules
from sessionkeeper.webhooks.rules import Attempt, DeliveryStatus, TargetRefused

# The test vector of the Standard Webhooks reference libraries.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_PAYLOAD = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_spec_test_vector() -> None:
    signed = rules.signature([VECTOR_SECRET], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD)
    assert signed == VECTOR_SIGNATURE


def test_two_secrets_give_two_space_separated_signatures() -> None:
    other = rules.secret_of(bytes(range(32)))
    signed = rules.signature([VECTOR_SECRET, other], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD)
    first, second = signed.split(" ")
    assert first == VECTOR_SIGNATURE and second.startswith("v1,") and second != first


def test_headers_carry_id_timestamp_and_signature() -> None:
    assert rules.headers("msg_1", 1614265330, "v1,x") == {
        "content-type": "application/json",
        "webhook-id": "msg_1",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,x",
    }


def test_secrets_hold_enough_random_bytes() -> None:
    assert rules.secret_of(b"\x00" * 32) == "whsec_" + "A" * 43 + "="
    with pytest.raises(ValueError):
        rules.secret_of(b"\x00" * 16)


@pytest.mark.parametrize(
    ("previous", "expires_at", "now", "expected"),
    [
        (None, None, 1000, ["new"]),
        ("old", 2000, 1000, ["new", "old"]),
        ("old", 2000, 1999, ["new", "old"]),
        ("old", 2000, 2000, ["new"]),  # the overlap is over
        ("old", None, 1000, ["new"]),
    ],
)
def test_signing_secrets(
    previous: str | None, expires_at: int | None, now: int, expected: list[str]
) -> None:
    assert rules.signing_secrets("new", previous, expires_at, now) == expected


@pytest.mark.parametrize(
    ("attempts", "jitter", "retry_after", "expected"),
    [
        (1, 0.5, None, 5_000),
        (1, 0.0, None, 4_500),  # -10 %
        (1, 0.999999, None, 5_500),  # +10 %
        (2, 0.5, None, 300_000),
        (3, 0.5, None, 1_800_000),
        (4, 0.5, None, 7_200_000),
        (5, 0.5, None, 18_000_000),
        (6, 0.5, None, 36_000_000),
        (7, 0.5, None, 50_400_000),
        (8, 0.5, None, 72_000_000),
        (9, 0.5, None, 86_400_000),
        (10, 0.5, None, None),  # ten attempts made: none left
        (1, 0.5, 120_000, 120_000),  # Retry-After longer than the schedule wins
        (2, 0.5, 1_000, 300_000),  # a shorter one does not cut the wait
        (1, 0.5, 10 * 86_400_000, 86_400_000),  # held to the longest wait
    ],
)
def test_retry_schedule(
    attempts: int, jitter: float, retry_after: int | None, expected: int | None
) -> None:
    assert rules.retry_delay_ms(attempts, jitter, retry_after) == expected


def test_the_schedule_is_the_specs() -> None:
    # From the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
    starts = [0]
    for wait in rules.RETRY_SCHEDULE_S:
        starts.append(starts[-1] + wait)
    assert starts[-1] == 75 * 3600 + 35 * 60 + 5  # "75:35:05" in the spec's table
    assert rules.MAX_ATTEMPTS == 10


NOW = 1_700_000_000_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("120", 120_000),
        (" 7 ", 7_000),
        ("0", 0),
        ("-5", None),
        ("soon", None),
        ("²", None),  # a digit to str.isdigit(), not to int()
        ("Tue, 14 Nov 2023 22:15:20 GMT", 120_000),  # NOW is 22:13:20 GMT
        ("Tue, 14 Nov 2023 22:00:00 GMT", 0),  # in the past: no extra wait
    ],
)
def test_retry_after(value: str | None, expected: int | None) -> None:
    assert rules.parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("attempts", "attempt", "status", "next_in", "disable"),
    [
        (1, Attempt(status_code=200), DeliveryStatus.DELIVERED, None, False),
        (3, Attempt(status_code=204), DeliveryStatus.DELIVERED, None, False),
        (1, Attempt(status_code=410), DeliveryStatus.FAILED, None, True),
        (1, Attempt(status_code=500), DeliveryStatus.PENDING, 5_000, False),
        (1, Attempt(status_code=301), DeliveryStatus.PENDING, 5_000, False),  # no redirects
        (1, Attempt(error="timeout"), DeliveryStatus.PENDING, 5_000, False),
        (2, Attempt(status_code=429, retry_after="600"), DeliveryStatus.PENDING, 600_000, False),
        (10, Attempt(status_code=500), DeliveryStatus.FAILED, None, False),
    ],
)
def test_what_follows_an_attempt(
    attempts: int, attempt: Attempt, status: DeliveryStatus, next_in: int | None, disable: bool
) -> None:
    decision = rules.decide(attempts, attempt, NOW, 0.5)
    assert decision.status is status
    assert decision.next_attempt_at == (None if next_in is None else NOW + next_in)
    assert decision.disable_endpoint is disable


T = int(datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp() * 1000)


def _ended(status: Status, reason: EndReason) -> SessionEnded:
    return SessionEnded(1, "s", "ann", "lesson", status, reason, T, T + 90_500, False)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (SessionStarted(1, "s", "ann", "lesson", T), "session.started"),
        (_ended(Status.ENDED, EndReason.CLIENT), "session.ended"),
        (_ended(Status.ENDED, EndReason.PRESENCE_LOST), "session.ended"),
        (_ended(Status.EXPIRED, EndReason.CLEANUP), "session.ended"),
        (_ended(Status.TIMED_OUT, EndReason.TIMEOUT), "session.timed_out"),
        (SessionAmended(1, "s", "ann", "lesson", Status.ENDED, T, T + 1, T + 2), "session.amended"),
        (HeartbeatsApplied(1, ok=3), None),
    ],
)
def test_event_types(event: object, expected: str | None) -> None:
    assert rules.event_type(event) == expected  # type: ignore[arg-type]


def test_bodies_are_thin_and_compact() -> None:
    event = _ended(Status.TIMED_OUT, EndReason.TIMEOUT)
    body = rules.body("session.timed_out", rules.event_data(event), T + 100_000)
    assert " " not in body  # compact: exactly the bytes signed
    assert json.loads(body) == {
        "type": "session.timed_out",
        "timestamp": "2026-01-05T09:01:40.000Z",
        "data": {
            "session_id": "s",
            "user_id": "ann",
            "kind": "lesson",
            "status": "timed_out",
            "end_reason": "timeout",
            "estimated": False,
            "started_at": "2026-01-05T09:00:00.000Z",
            "ended_at": "2026-01-05T09:01:30.500Z",
            "duration_s": 90.5,
        },
    }
    amended = SessionAmended(1, "s", "ann", "lesson", Status.ACTIVE, T, T + 5_000, None)
    data = rules.event_data(amended)
    assert data["previous_ended_at"] == "2026-01-05T09:00:05.000Z"
    assert data["ended_at"] is None and data["duration_s"] is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("10.0.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("fd00::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("100.64.0.1", "non-public"),
        ("224.0.0.1", "non-public"),
        ("0.0.0.0", "private"),
    ],
)
def test_refused_addresses(address: str, reason: str | None) -> None:
    assert rules.refused_address(address) == reason


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/hook", True),
        ("http://example.com:8080/hook?x=1", True),
        ("https://[2606:4700::1]/hook", True),
        ("ftp://example.com/", False),
        ("javascript:alert(1)", False),
        ("https://user:pw@example.com/", False),
        ("https://user@example.com/", False),
        ("https:///path", False),
        ("https://example.com:0/", False),
        ("https://example.com:70000/", False),
        ("https://exa mple.com/", False),
        ("https://example.com/\nx", False),
        ("https://example.com/" + "a" * 2048, False),
    ],
)
def test_target_shapes(url: str, ok: bool) -> None:
    if ok:
        assert rules.target_parts(url).hostname
    else:
        with pytest.raises(TargetRefused):
            rules.target_parts(url)
