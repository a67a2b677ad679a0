"""The rules of webhooks (Standard Webhooks 1.0), pure: which change events are sent and as
what body, how a message is signed, when a failed delivery is tried again, and which targets
may be called.

- **Events**: ``session.started``; ``session.ended`` (any close but a timeout);
  ``session.timed_out``; ``session.amended`` (a closed session corrected by late evidence).
- **Body**: ``{"type", "timestamp", "data"}`` with a thin ``data``: the session's id, user,
  kind, status, times and duration. It is serialised once, when the change commits, and sent
  byte for byte on every attempt.
- **Signature**: ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`` with
  each secret in force, space-separated (the current one, and for 24 h after a rotation the
  previous one too); computed by the ``standardwebhooks`` reference library.
- **Retries**: after a failed attempt the next one comes after 5 s, 5 min, 30 min, 2 h, 5 h,
  10 h, 14 h, 20 h, 24 h (±10 % jitter, so that retries of many messages do not arrive
  together), or later when the receiver asked so with ``Retry-After``; after the tenth
  attempt the delivery has failed. A 2xx delivers it; 410 Gone disables the endpoint.
- **Targets**: http(s) only, no credentials in the URL, and — unless private targets are
  allowed — every address the host resolves to must be a public one.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import SplitResult, urlsplit

from standardwebhooks import Webhook

from sessionkeeper.domain.events import ChangeEvent, SessionAmended, SessionEnded, SessionStarted
from sessionkeeper.domain.times import iso_z

# --- events and bodies ---------------------------------------------------------------------

STARTED = "session.started"
ENDED = "session.ended"
TIMED_OUT = "session.timed_out"
AMENDED = "session.amended"
EVENT_TYPES = (STARTED, ENDED, TIMED_OUT, AMENDED)


def event_type(event: ChangeEvent) -> str | None:
    """The webhook event type of a change event, or None when webhooks do not report it."""
    if isinstance(event, SessionStarted):
        return STARTED
    if isinstance(event, SessionEnded):
        return TIMED_OUT if event.timed_out else ENDED
    if isinstance(event, SessionAmended):
        return AMENDED
    return None


def _time(ms: int | None) -> str | None:
    return None if ms is None else iso_z(ms)


def event_data(event: ChangeEvent) -> dict[str, Any]:
    """The thin ``data`` of a session event: ids, kind, status, times and duration."""
    if isinstance(event, SessionStarted):
        return _session_data(event, "active", None)
    if isinstance(event, SessionEnded):
        return {
            **_session_data(event, event.status.value, event.ended_at),
            "end_reason": event.reason.value,
            "estimated": event.estimated,
        }
    if isinstance(event, SessionAmended):
        return {
            **_session_data(event, event.status.value, event.ended_at),
            "previous_ended_at": _time(event.previous_ended_at),
        }
    raise ValueError(f"webhooks do not report {type(event).__name__}")


def _session_data(
    event: SessionStarted | SessionEnded | SessionAmended, status: str, ended_at: int | None
) -> dict[str, Any]:
    return {
        "session_id": event.session_id,
        "user_id": event.user_id,
        "kind": event.kind,
        "status": status,
        "started_at": _time(event.started_at),
        "ended_at": _time(ended_at),
        "duration_s": None if ended_at is None else (ended_at - event.started_at) / 1000,
    }


def body(type_: str, data: dict[str, Any], now: int) -> str:
    """The message body: compact JSON, exactly what is signed and sent."""
    message = {"type": type_, "timestamp": iso_z(now), "data": data}
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


# --- secrets and signatures ----------------------------------------------------------------

SECRET_PREFIX = "whsec_"
# The spec asks for 24 to 64 random bytes; 32 is 256 bits.
SECRET_BYTES = 32
ROTATION_OVERLAP_MS = 24 * 3600 * 1000


def secret_of(random_bytes: bytes) -> str:
    if len(random_bytes) < 24:
        raise ValueError("a webhook secret needs at least 24 random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def signing_secrets(
    current: str, previous: str | None, previous_expires_at: int | None, now: int
) -> list[str]:
    """The secrets that sign a message sent at ``now``: the current one, and the previous one
    while its overlap after a rotation lasts."""
    if previous is not None and previous_expires_at is not None and now < previous_expires_at:
        return [current, previous]
    return [current]


def signature(secrets: Sequence[str], message_id: str, timestamp_s: int, payload: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated."""
    at = datetime.fromtimestamp(timestamp_s, tz=UTC)
    return " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=at, data=payload) for secret in secrets
    )


def headers(message_id: str, timestamp_s: int, signed: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": signed,
    }


# --- deliveries and retries ----------------------------------------------------------------


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (or in one)
    DELIVERED = "delivered"  # a 2xx answered
    FAILED = "failed"  # gave up: the schedule ran out, or the endpoint answered 410


# The waits after the 1st, 2nd, … failed attempt; the 10th attempt is the last.
RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_S) + 1
JITTER = 0.1
# A Retry-After longer than the longest wait is held to it.
MAX_RETRY_AFTER_MS = RETRY_SCHEDULE_S[-1] * 1000
# Each attempt's whole time limit: name resolution, connection, request and answer.
ATTEMPT_TIMEOUT_S = 15.0
# How long a claimed delivery stays claimed: a process that died during the attempt left it,
# and another process (or the restarted one) takes it up after this.
CLAIM_LEASE_MS = 60_000


def retry_delay_ms(attempts: int, jitter: float, retry_after_ms: int | None) -> int | None:
    """The wait before the next attempt after ``attempts`` attempts all failed, or None when
    none is left. ``jitter`` is a random number in [0, 1)."""
    if attempts >= MAX_ATTEMPTS:
        return None
    base = RETRY_SCHEDULE_S[attempts - 1] * 1000
    delay = round(base * (1 - JITTER + 2 * JITTER * jitter))
    if retry_after_ms is not None:
        delay = max(delay, min(retry_after_ms, MAX_RETRY_AFTER_MS))
    return delay


def parse_retry_after(value: str | None, now: int) -> int | None:
    """Milliseconds from ``now`` that a ``Retry-After`` header asks to wait: delay-seconds or
    an HTTP date. None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not '²', which int() refuses
        return int(value[:12]) * 1000
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, round(when.timestamp() * 1000) - now)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt got: an HTTP status, or an error that prevented one."""

    status_code: int | None = None
    error: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    status: DeliveryStatus
    next_attempt_at: int | None
    disable_endpoint: bool = False


def decide(attempts: int, attempt: Attempt, now: int, jitter: float) -> Decision:
    """What follows an attempt (the ``attempts``-th): delivered, another try, or given up."""
    code = attempt.status_code
    if code is not None and 200 <= code < 300:
        return Decision(DeliveryStatus.DELIVERED, None)
    if code == 410:
        return Decision(DeliveryStatus.FAILED, None, disable_endpoint=True)
    delay = retry_delay_ms(attempts, jitter, parse_retry_after(attempt.retry_after, now))
    if delay is None:
        return Decision(DeliveryStatus.FAILED, None)
    return Decision(DeliveryStatus.PENDING, now + delay)


# --- targets -------------------------------------------------------------------------------

MAX_URL_LENGTH = 2048


class TargetRefused(ValueError):
    """The URL may not be called: its shape, or where its host points."""


def target_parts(url: str) -> SplitResult:
    """The URL split, if it is one webhooks may call (http or https, a host, no credentials)."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must be http:// or https://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL must not hold credentials; authenticate by signature")
    if port == 0:
        raise TargetRefused("the URL's port must be 1-65535")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise TargetRefused("the URL must not contain spaces or control characters")
    return parts


def refused_address(address: str) -> str | None:
    """Why an address resolved for a webhook target is refused (None: a public address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id is no part of it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "non-public"
    return None
