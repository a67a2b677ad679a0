"""The pure rules of tracking links and of the browser tracker's reports.

- A link's target may use http, https or a scheme of the configured allow-list (apps that a
  lesson opens in: ``zoommtg``, ``msteams``); anything else could run script in the visitor's
  browser (``javascript:``, ``data:``) and is refused.
- A click is told apart from a reload by a cookie holding the click's tracker token: a second
  load of the same page while the session lives continues it.
- The tracker reports three running totals per session (``engaged_ms``, ``visible_ms``,
  ``wall_ms``) with a sequence number. Reports may arrive twice or out of order: the server
  keeps the maximum of each total, and caps any increase at the wall time elapsed since the
  last report it counted plus a tolerance, and every total at the session's life so far plus
  that tolerance once, so a forged or buggy report, or many of them, cannot credit more time
  than passed. Engaged time is visible time, and visible time is wall time: each is capped by
  the next.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sessionkeeper.domain import attributes as attribute_rules

MAX_TARGET_LENGTH = 2048
# Reports may run ahead of the server's view of elapsed time by this much (clock steps,
# the time a request spends in flight).
TOLERANCE_MS = 5_000
# Anything that would make a URL mean something else once put in a page or a Location header.
_UNSAFE = re.compile(r"[\x00-\x20\x7f<>\"'\\`]")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]{0,31}$")


class Mode(StrEnum):
    COMPANION = "companion"  # a page that opens the target and heartbeats while open
    REDIRECT = "redirect"  # a 302 to the target: the session records the click only


class TrackerMode(StrEnum):
    """What a browser session counts as its length: a companion page is open beside the
    lesson (``wall_ms``); a page is read while it is visible and focused (``engaged_ms``)."""

    PAGE = "page"
    COMPANION = "companion"


def scheme_allowed(scheme: str, extra: Iterable[str]) -> bool:
    return scheme in {"http", "https", *(s.lower() for s in extra)}


def target_problem(url: str, extra_schemes: Iterable[str]) -> str | None:
    """Why ``url`` cannot be a link's target, or None."""
    if len(url) > MAX_TARGET_LENGTH:
        return f"is longer than {MAX_TARGET_LENGTH} characters"
    if _UNSAFE.search(url):
        return "contains spaces, quotes, angle brackets or control characters"
    scheme = url.partition(":")[0].lower()
    if ":" not in url or not _SCHEME.match(scheme):
        return "needs a scheme (https://…)"
    if not scheme_allowed(scheme, extra_schemes):
        allowed = ", ".join(sorted({"http", "https", *extra_schemes}))
        return f"uses the scheme '{scheme}'; allowed: {allowed}"
    if scheme in ("http", "https"):
        try:
            parts = urlsplit(url)
        except ValueError:
            return "is not a valid URL"
        if not parts.hostname:
            return "needs a host"
    return None


# Link previews and crawlers (chat apps unfurling a pasted link, search engines) fetch a url
# without anyone clicking it: they must not start a session, nor use up a single-use link.
_BOT_MARKERS = (
    "bot",
    "crawler",
    "spider",
    "preview",
    "facebookexternalhit",
    "whatsapp",
    "embedly",
)


def is_bot(user_agent: str | None) -> bool:
    ua = (user_agent or "").lower()
    return any(marker in ua for marker in _BOT_MARKERS)


def user_agent_family(user_agent: str | None) -> str:
    """The browser's family, never the full string (which with the address identifies a
    person better than needed)."""
    if is_bot(user_agent):
        return "bot"
    ua = user_agent or ""
    for marker, family in (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chrome"),
        ("Safari/", "Safari"),
    ):
        if marker.lower() in ua.lower():
            return family
    return "other"


def usable_problem(
    *, deleted: bool, expires_at: int | None, now: int, used: bool, reusable: bool
) -> str | None:
    """Why a link's url answers 410, or None when a new click may start a session."""
    if deleted:
        return "This link was withdrawn."
    if expires_at is not None and now >= expires_at:
        return "This link has expired."
    if used and not reusable:
        return "This link has been used already."
    return None


@dataclass(frozen=True, slots=True)
class Counters:
    engaged_ms: int = 0
    visible_ms: int = 0
    wall_ms: int = 0
    seq: int = 0


def merge(stored: Counters, reported: Counters, elapsed_ms: int, lived_ms: int) -> Counters:
    """The totals after a report: the maximum of each, an increase capped at the wall time
    elapsed since the last counted report plus :data:`TOLERANCE_MS`, and every total at the
    session's whole life so far (``lived_ms``) plus that tolerance once: the tolerance of each
    report must not add up (40 quick reports once credited 200 s in 2 s)."""
    cap = max(0, elapsed_ms) + TOLERANCE_MS
    ceiling = max(0, lived_ms) + TOLERANCE_MS

    def total(old: int, new: int) -> int:
        return max(old, min(new, old + cap, ceiling))

    wall = total(stored.wall_ms, reported.wall_ms)
    visible = min(total(stored.visible_ms, reported.visible_ms), wall)
    engaged = min(total(stored.engaged_ms, reported.engaged_ms), visible)
    return Counters(
        engaged_ms=max(engaged, stored.engaged_ms),
        visible_ms=max(visible, stored.visible_ms),
        wall_ms=wall,
        seq=max(stored.seq, reported.seq),
    )


# The totals the tracker reports, shown in the session's attributes: only its reports set
# them, never a start's or a link's attributes (an untrusted page could claim any time).
COUNTER_KEYS = ("engaged_ms", "visible_ms", "wall_ms")
_COUNTERS_AT_MOST = dict.fromkeys(COUNTER_KEYS, 2**53)

# What this feature adds to a session's attributes, at their largest: the attributes a
# client gives must leave room for them, or a later beat's merge would go over the caps and
# be refused. A click adds the link and the browser, and the tracker its counters later;
# the tracker's own start adds the browser, its mode and the counters.
CLICK_ADDS = {
    "link_id": "lnk_" + "0" * 26,
    "link_mode": "companion",
    "user_agent": "Firefox",
    **_COUNTERS_AT_MOST,
}
TRACKER_ADDS = {"user_agent": "Firefox", "tracker_mode": "companion", **_COUNTERS_AT_MOST}


def attributes_problem(attributes: Mapping[str, Any], added: Mapping[str, Any]) -> str | None:
    """Why ``attributes`` leave no room for ``added`` (what links or the tracker add), or
    None."""
    return attribute_rules.problem(given_with(attributes, added))


def given_with(attributes: Mapping[str, Any], added: Mapping[str, Any]) -> dict[str, Any]:
    """A session's attributes: what the client gave, without counters (the tracker's reports
    alone set them), then what the feature adds, which replaces any key of the same name."""
    kept = {key: value for key, value in attributes.items() if key not in COUNTER_KEYS}
    return {**kept, **added}


def origin_of(value: str | None) -> str | None:
    """An Origin header as stored: scheme://host[:port], lower case; None for none or
    ``null`` (a sandboxed or file page, which no key allows)."""
    if not value or value == "null":
        return None
    return value.strip().lower().rstrip("/")


ORIGIN_PATTERN = r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_error(origin: str) -> str | None:
    """Why an origin of ``ORIGIN_PATTERN``'s shape can never match a browser's ``Origin``
    header: a port outside 1-65535, or the scheme's default port, which browsers leave out.
    None when it can."""
    scheme, _, rest = origin.partition("://")
    _, colon, port = rest.rpartition(":")
    if not colon:
        return None
    if not 0 < int(port) < 65536:
        return f"{origin}: a port is 1-65535"
    if int(port) == _DEFAULT_PORTS[scheme]:
        return f"{origin}: browsers send no default port; name it without :{port}"
    return None
