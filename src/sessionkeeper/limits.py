"""Every cap a client can run into, in one list made from the values the code enforces.

README's table of limits is this list rendered (``python -m sessionkeeper.limits``
prints it); a test fails when the two differ, so the table cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionkeeper.admin.routes import MAX_PAGE as MAX_ADMIN_PAGE
from sessionkeeper.api.fields import (
    MAX_ATTRIBUTES_BYTES,
    MAX_ATTRIBUTES_DEPTH,
    MAX_ATTRIBUTES_KEYS,
    MAX_KIND_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TEXT_CHARS,
)
from sessionkeeper.api.policies import MAX_SECONDS, MIN_SECONDS
from sessionkeeper.api.presence import MAX_ENTRIES
from sessionkeeper.api.sessions import MAX_BATCH, MAX_CURSOR_CHARS, MAX_PAGE
from sessionkeeper.config import Settings
from sessionkeeper.domain.ids import MAX_SESSION_ID
from sessionkeeper.services.tenants import MAX_TENANT_CHARS


@dataclass(frozen=True, slots=True)
class Limit:
    what: str
    value: str
    setting: str  # the environment variable that changes it, or "" when fixed
    answer: str  # what a client gets past it


def _bytes(n: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} bytes"


def _seconds(s: float) -> str:
    return f"{s:g} s"


def limits(settings: Settings | None = None) -> list[Limit]:
    """The limits with their defaults (or the values of ``settings``)."""
    s = settings or Settings.model_construct()  # the defaults, whatever the environment says
    return [
        Limit(
            "request body, as decoded (gzip included)",
            _bytes(s.max_body_bytes),
            "SESSIONKEEPER_MAX_BODY_BYTES",
            "413",
        ),
        Limit(
            "presence snapshot or change set body, as decoded",
            _bytes(s.max_snapshot_bytes),
            "SESSIONKEEPER_MAX_SNAPSHOT_BYTES",
            "413",
        ),
        Limit("Content-Encoding of a request body", "gzip or none", "", "415"),
        Limit(
            "entries in a snapshot; joins, leaves in a change set", f"{MAX_ENTRIES:,}", "", "422"
        ),
        Limit("heartbeats in a batch", f"{MAX_BATCH:,}", "", "422"),
        Limit("attributes: keys at the top level", f"{MAX_ATTRIBUTES_KEYS}", "", "422"),
        Limit("attributes: nesting depth", f"{MAX_ATTRIBUTES_DEPTH} levels", "", "422"),
        Limit("attributes: size as JSON", _bytes(MAX_ATTRIBUTES_BYTES), "", "422"),
        Limit(
            "session id",
            f"1-{MAX_SESSION_ID} of A-Z a-z 0-9 _ . : - (not only dots)",
            "",
            "422",
        ),
        Limit("user_id, label", f"1-{MAX_TEXT_CHARS} characters, no NUL", "", "422"),
        Limit("kind", f"1-{MAX_KIND_CHARS} of A-Z a-z 0-9 _ . : -", "", "422"),
        Limit(
            "presence source name",
            f"1-{MAX_SOURCE_CHARS} of A-Z a-z 0-9 _ . : -, and not a source a feature gives "
            "its own sessions: `link`, `browser` (code `source_taken`)",
            "",
            "422",
        ),
        Limit("tenant name", f"1-{MAX_TENANT_CHARS} of A-Z a-z 0-9 _ . -", "", "422"),
        Limit("sessions per page (limit)", f"{MAX_PAGE}", "", "422"),
        Limit("keys or tenants per page (limit)", f"{MAX_ADMIN_PAGE}", "", "422"),
        Limit("cursor", f"{MAX_CURSOR_CHARS:,} characters", "", "422"),
        Limit(
            "client time (at, started_at) in the past",
            _seconds(s.max_past_s),
            "SESSIONKEEPER_MAX_PAST_S",
            "422",
        ),
        Limit(
            "client time in the future",
            _seconds(s.max_future_s),
            "SESSIONKEEPER_MAX_FUTURE_S",
            "422",
        ),
        Limit(
            "policy heartbeat_interval_s, timeout_s",
            f"{MIN_SECONDS:g} s to {MAX_SECONDS:,.0f} s",
            "",
            "422",
        ),
        Limit(
            "time to send the request headers",
            _seconds(s.request_header_timeout_s),
            "SESSIONKEEPER_REQUEST_HEADER_TIMEOUT_S",
            "408, connection closed",
        ),
        Limit(
            "time to send the request body",
            _seconds(s.request_body_timeout_s),
            "SESSIONKEEPER_REQUEST_BODY_TIMEOUT_S",
            "408, connection closed",
        ),
        Limit(
            "idle time between requests on one connection",
            _seconds(s.keepalive_timeout_s),
            "SESSIONKEEPER_KEEPALIVE_TIMEOUT_S",
            "connection closed",
        ),
        Limit(
            "open connections per server process",
            f"{s.max_connections:,}",
            "SESSIONKEEPER_MAX_CONNECTIONS",
            "new connections closed",
        ),
        Limit(
            "requests a second per API key (rate limit)",
            "none" if s.rate_limit_per_key is None else f"{s.rate_limit_per_key:g}",
            "SESSIONKEEPER_RATE_LIMIT_PER_KEY",
            "429, Retry-After",
        ),
        Limit(
            "requests a key may send at once (burst)",
            "ten seconds' worth" if s.rate_limit_burst is None else f"{s.rate_limit_burst:g}",
            "SESSIONKEEPER_RATE_LIMIT_BURST",
            "429, Retry-After",
        ),
        Limit(
            "dashboard login attempts a minute per client address",
            f"{s.dashboard_login_attempts_per_min:g}",
            "SESSIONKEEPER_DASHBOARD_LOGIN_ATTEMPTS_PER_MIN",
            "429, Retry-After",
        ),
        Limit(
            "distinct kinds labelled in /metrics",
            f"{s.metrics_max_kinds}",
            "SESSIONKEEPER_METRICS_MAX_KINDS",
            'the rest count as "other"',
        ),
    ]


def markdown(items: list[Limit] | None = None) -> str:
    rows = ["| limit | default | setting | past it |", "| --- | --- | --- | --- |"]
    for item in items or limits():
        setting = f"`{item.setting}`" if item.setting else "fixed"
        rows.append(f"| {item.what} | {item.value} | {setting} | {item.answer} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
