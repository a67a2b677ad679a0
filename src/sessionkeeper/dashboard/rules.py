"""The dashboard's pure rules: signed login tokens, CSRF tokens, the session timeline, the
duration histogram's buckets, and which query parameters are filters.

Stdlib only and no clock: ``now`` is passed in, so every rule is tested table-style.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.listing import SessionOrder, SortKey
from sessionkeeper.domain.session import Session
from sessionkeeper.rollups.ends_rules import DURATION_BUCKETS_S

# The login cookie's name; ``__Host-`` would forbid plain HTTP on localhost, so a plain name.
COOKIE = "sk_dashboard"
# The cookie holding the login form's own CSRF value (double submit, before any login).
LOGIN_COOKIE = "sk_dashboard_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"

# Query parameters of the sessions page that are not session filters.
PAGE_PARAMETERS = ("order", "cursor", "limit")
# How each order is offered, and the order a click on its column's heading turns it into.
ORDER_LABELS = {
    SessionOrder.NEWEST: "newest first",
    SessionOrder.OLDEST: "oldest first",
    SessionOrder.ENDED_LATEST: "ended latest first",
    SessionOrder.ENDED_EARLIEST: "ended earliest first",
    SessionOrder.LONGEST: "longest first",
    SessionOrder.SHORTEST: "shortest first",
}
REVERSED = {
    SessionOrder.NEWEST: SessionOrder.OLDEST,
    SessionOrder.OLDEST: SessionOrder.NEWEST,
    SessionOrder.ENDED_LATEST: SessionOrder.ENDED_EARLIEST,
    SessionOrder.ENDED_EARLIEST: SessionOrder.ENDED_LATEST,
    SessionOrder.LONGEST: SessionOrder.SHORTEST,
    SessionOrder.SHORTEST: SessionOrder.LONGEST,
}


def heading_order(current: SessionOrder, key: SortKey) -> SessionOrder:
    """The order a click on the heading of ``key``'s column asks for: the reverse of the
    current order when the table is ordered by that column, else its first order."""
    if current.key is key:
        return REVERSED[current]
    first = {
        SortKey.STARTED: SessionOrder.NEWEST,
        SortKey.ENDED: SessionOrder.ENDED_LATEST,
        SortKey.DURATION: SessionOrder.LONGEST,
    }
    return first[key]


DEFAULT_PAGE = 50


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: str, body: str) -> str:
    # The purpose is part of what is signed: a CSRF token is never a valid login token.
    return _b64(hmac.new(secret, f"{purpose}:{body}".encode(), hashlib.sha256).digest())


@dataclass(frozen=True, slots=True)
class Login:
    """What the login cookie holds: the key's SHA-256 digest (never the key), the tenant an
    operator key acts on, when it expires, and a nonce the CSRF token is derived from."""

    key_digest: str
    tenant: str | None
    expires_at: int
    nonce: str

    def to_json(self) -> dict[str, Any]:
        return {"d": self.key_digest, "t": self.tenant, "e": self.expires_at, "n": self.nonce}


def sign_login(secret: bytes, login: Login) -> str:
    body = _b64(json.dumps(login.to_json(), separators=(",", ":")).encode())
    return f"{body}.{_mac(secret, 'login', body)}"


def read_login(secret: bytes, token: str | None, now: int) -> Login | None:
    """The login a cookie holds, or None when it is missing, forged or expired."""
    if not token or token.count(".") != 1 or len(token) > 2048:
        return None
    body, mac = token.split(".")
    if not hmac.compare_digest(mac, _mac(secret, "login", body)):
        return None
    try:
        data = json.loads(_unb64(body))
        login = Login(str(data["d"]), data["t"], int(data["e"]), str(data["n"]))
    except (ValueError, KeyError, TypeError):
        return None
    if login.tenant is not None and not isinstance(login.tenant, str):
        return None
    return login if login.expires_at > now else None


def csrf_token(secret: bytes, nonce: str) -> str:
    """The CSRF token of one login: forms and htmx requests send it back."""
    return _mac(secret, "csrf", nonce)


def csrf_valid(secret: bytes, nonce: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent), csrf_token(secret, nonce))


# The timeline of one session


DEADLINE = "times out unless a heartbeat comes"


@dataclass(frozen=True, slots=True)
class Step:
    at: int
    what: str
    detail: str = ""


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g} s"


def end_explanation(session: Session) -> str:
    """Why a session ended when it did, in a sentence for the timeline."""
    reason = session.end_reason
    if session.status is Status.ACTIVE:
        return ""
    if session.estimated and reason is EndReason.TIMEOUT:
        return (
            f"estimated: no heartbeat within the timeout ({_seconds(session.timeout_ms)}); "
            f"ended at the last heartbeat plus the grace of {_seconds(session.grace_ms)}"
        )
    if session.estimated:
        return (
            f"estimated ({reason}): the end is inferred, the last heartbeat plus a grace "
            f"of at most {_seconds(session.grace_ms)}"
        )
    by = {
        EndReason.CLIENT: "reported by the client: exact",
        EndReason.ADMIN: "ended by hand by an admin: exact",
        EndReason.PRESENCE_LOST: "the presence source stopped reporting it: exact",
        EndReason.CLEANUP: "closed by the cleanup",
    }
    return by.get(reason, str(reason)) if reason is not None else ""


def timeline(session: Session, events: Iterable[tuple[int, str, str]] = ()) -> list[Step]:
    """Start, heartbeats (summarised: the first beat is the start, the last is
    ``last_seen_at``), the events ``(at, type, name)``, and the end or the expected
    deadline, in time order."""
    steps = [Step(session.started_at, "started", f"kind {session.kind}")]
    if session.last_seen_at > session.started_at:
        interval = session.interval_ms
        detail = f"last heartbeat; beats expected every {_seconds(interval)}" if interval else ""
        steps.append(Step(session.last_seen_at, "last heartbeat", detail))
    steps += [Step(at, f"event: {kind}", name) for at, kind, name in events]
    if session.ended_at is not None:
        label = "estimated end" if session.estimated else "ended"
        steps.append(Step(session.ended_at, label, end_explanation(session)))
    elif session.status is Status.ACTIVE:
        steps.append(
            Step(
                session.expires_at,
                DEADLINE,
                f"then it ends at the last heartbeat plus {_seconds(session.grace_ms)}",
            )
        )
    if session.amended_at is not None:
        steps.append(
            Step(session.amended_at, "amended", f"late evidence, {session.amended_count} times")
        )
    return sorted(steps, key=lambda step: step.at)


def room_timeline(steps: list[Step], inactive_at: int | None, room_timeout_ms: int) -> list[Step]:
    """A room's timeline: it closes after its inactivity, not after a session timeout."""
    kept = [step for step in steps if step.what != DEADLINE]
    if inactive_at is not None:
        detail = f"no participant present for its room timeout ({_seconds(room_timeout_ms)})"
        kept.append(Step(inactive_at, "goes inactive unless someone is present", detail))
    return sorted(kept, key=lambda step: step.at)


# Charts


def bucket_labels(bounds: Sequence[int] = DURATION_BUCKETS_S) -> list[str]:
    def name(seconds: int) -> str:
        return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds // 60} min"

    labels = [f"< {name(bounds[0])}"]
    labels += [f"{name(low)} to {name(high)}" for low, high in itertools.pairwise(bounds)]
    labels.append(f"≥ {name(bounds[-1])}")
    return labels


def active_by_hour(spans: Iterable[tuple[str, int, int, int]], hours: int) -> dict[str, list[int]]:
    """Per kind, how many sessions were going at some moment of each of ``hours`` hours:
    ``(kind, first hour, last hour, sessions)`` counts ``sessions`` in every hour from the
    first to the last (the listing's ``active_during`` of each hour, see
    ``store.hour_spans``); hours outside ``0 … hours - 1`` are not drawn."""
    counts: dict[str, list[int]] = {}
    for kind, first, last, sessions in spans:
        for index in range(max(0, first), min(hours - 1, last) + 1):
            counts.setdefault(kind, [0] * hours)[index] += sessions
    return counts


def split_query(
    pairs: Iterable[tuple[str, str]],
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The session filters of a query (empty values dropped: an empty form field means no
    filter) and the page's own parameters."""
    filters: list[tuple[str, str]] = []
    page: dict[str, str] = {}
    for name, value in pairs:
        if name in PAGE_PARAMETERS:
            page[name] = value
        elif value != "":
            filters.append((name, value))
    return filters, page


def sum_by_day(rows: Iterable[tuple[date, int]]) -> dict[date, int]:
    """(day, sessions started) per kind summed to per day."""
    days: dict[date, int] = {}
    for day, started in rows:
        days[day] = days.get(day, 0) + started
    return days
