"""The dashboard's pure rules, table-style: login tokens, CSRF, the timeline, the histogram,
and the vendored assets as VENDORED.md records them."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import pytest

from sessionkeeper.dashboard import rules
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.session import Session

SECRET = b"k" * 32
STATIC = Path(rules.__file__).parent / "static"


def login(expires_at: int = 2_000, tenant: str | None = None) -> rules.Login:
    return rules.Login("digest", tenant, expires_at, "nonce")


def test_a_signed_login_reads_back_until_it_expires() -> None:
    token = rules.sign_login(SECRET, login(tenant="acme"))
    assert rules.read_login(SECRET, token, now=1_999) == login(tenant="acme")
    assert rules.read_login(SECRET, token, now=2_000) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "x" + t,  # body changed
        lambda t: t.replace(".", ""),
        lambda t: t + ".more",
        lambda t: "",
        lambda t: "a" * 5000,
    ],
)
def test_a_tampered_login_is_none(mangle: object) -> None:
    token = rules.sign_login(SECRET, login())
    assert rules.read_login(SECRET, mangle(token), now=0) is None  # type: ignore[operator]


def test_another_secret_reads_no_login_and_a_csrf_token_is_no_login() -> None:
    token = rules.sign_login(SECRET, login())
    assert rules.read_login(b"o" * 32, token, now=0) is None
    csrf = rules.csrf_token(SECRET, "nonce")
    body = token.split(".")[0]
    assert rules.read_login(SECRET, f"{body}.{csrf}", now=0) is None


def test_csrf_tokens_belong_to_one_login() -> None:
    token = rules.csrf_token(SECRET, "nonce")
    assert rules.csrf_valid(SECRET, "nonce", token)
    assert not rules.csrf_valid(SECRET, "other", token)
    assert not rules.csrf_valid(SECRET, "nonce", None)
    assert not rules.csrf_valid(SECRET, "nonce", "")


def session(**changes: object) -> Session:
    values: dict[str, object] = {
        "tenant_id": 1,
        "id": "s",
        "user_id": "u",
        "kind": "game",
        "label": None,
        "source": None,
        "attributes": {},
        "status": Status.ACTIVE,
        "end_reason": None,
        "estimated": False,
        "started_at": 0,
        "last_seen_at": 40_000,
        "expires_at": 70_000,
        "ended_at": None,
        "timeout_ms": 30_000,
        "grace_ms": 5_000,
        "interval_ms": 10_000,
    }
    values.update(changes)
    return Session(**values)  # type: ignore[arg-type]


def test_the_timeline_of_an_active_session_says_when_it_would_time_out() -> None:
    steps = rules.timeline(session(), [(20_000, "page_view", "/home")])
    assert [s.what for s in steps] == [
        "started",
        "event: page_view",
        "last heartbeat",
        "times out unless a heartbeat comes",
    ]
    assert "10 s" in steps[2].detail and "5 s" in steps[3].detail


@pytest.mark.parametrize(
    ("status", "reason", "estimated", "label", "why"),
    [
        (Status.TIMED_OUT, EndReason.TIMEOUT, True, "estimated end", "grace of 5 s"),
        (Status.ENDED, EndReason.CLIENT, False, "ended", "reported by the client"),
        (Status.ENDED, EndReason.ADMIN, False, "ended", "by hand"),
        (Status.ENDED, EndReason.PRESENCE_LOST, False, "ended", "presence source"),
        (Status.EXPIRED, EndReason.CLEANUP, True, "estimated end", "estimated (cleanup)"),
    ],
)
def test_the_end_says_why_it_is_where_it_is(
    status: Status, reason: EndReason, estimated: bool, label: str, why: str
) -> None:
    closed = session(status=status, end_reason=reason, estimated=estimated, ended_at=45_000)
    last = rules.timeline(closed)[-1]
    assert (last.what, last.at) == (label, 45_000)
    assert why in last.detail


def test_sessions_going_in_each_hour_per_kind() -> None:
    spans = [
        ("game", 0, 0, 2),  # two inside the first hour
        ("game", 0, 1, 1),  # across the first two
        ("game", 1, 0, 4),  # no time at all (a start and end on a boundary): no hour
        ("voice", 1, 5, 1),  # from the second hour on, past the last one drawn
        ("voice", 3, 4, 7),  # after the last hour
    ]
    assert rules.active_by_hour(spans, 3) == {"game": [3, 1, 0], "voice": [0, 1, 1]}
    labels = rules.bucket_labels()
    assert len(labels) == len(rules.DURATION_BUCKETS_S) + 1
    assert labels[0] == "< 1 min" and labels[-1] == "≥ 4 h"


def test_split_query_drops_empty_filters_and_keeps_the_page_parameters() -> None:
    filters, page = rules.split_query(
        [("kind", "game"), ("label", ""), ("order", "oldest"), ("cursor", "abc")]
    )
    assert filters == [("kind", "game")]
    assert page == {"order": "oldest", "cursor": "abc"}


def test_sessions_per_day_sum_over_kinds() -> None:
    first, second = date(2026, 11, 1), date(2026, 11, 2)
    rows = [(first, 2), (first, 3), (second, 1)]
    assert rules.sum_by_day(rows) == {first: 5, second: 1}


def test_vendored_files_are_the_ones_recorded() -> None:
    recorded = re.findall(
        r"^\| `([^`]+)` \| `[^`]+` \| [^|]+ \| [^|]+ \| `([0-9a-f]{64})` \|$",
        (STATIC / "VENDORED.md").read_text(),
        flags=re.MULTILINE,
    )
    assert len(recorded) == 4
    for name, digest in recorded:
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
