"""Activity events: what happened inside (or outside) a session, as the client reported it.

An event is identified by an ``event_id`` its client made, unique per tenant: the same event
sent twice (a retry, a replayed queue, two requests racing) is stored once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    PAGE_VIEW = "page_view"  # ``name`` is the page
    ACTION = "action"
    CUSTOM = "custom"


class Outcome(StrEnum):
    """What a batch did with one of its events."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # an event with this event_id was stored before
    SESSION_NOT_FOUND = "session_not_found"  # not stored: the tenant has no such session
    INVALID = "invalid"  # not stored: see the reason


# Most events one request may carry.
MAX_BATCH = 1000
# The kind recorded for an event sent without a session (kinds are never empty).
NO_KIND = ""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event after validation; ``at`` None means "when it was received"."""

    event_id: str
    user_id: str
    type: EventType
    name: str
    at: int | None = None
    session_id: str | None = None
    properties: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    session_id: str | None
    user_id: str
    type: EventType
    name: str
    properties: Mapping[str, Any] | None
    at: int
    received_at: int


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    outcome: Outcome
    field: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a listing returns; ``since`` included, ``until`` excluded."""

    user_id: str | None = None
    session_id: str | None = None
    type: EventType | None = None
    name: str | None = None
    since: int | None = None
    until: int | None = None


# A time shared by at least this many sessions' beats is applied as one statement over their
# ids; rarer times go one row each. Events made without ``at`` share the time of the write.
SHARED_TIME_MIN = 8


def beat_groups(beats: Sequence[tuple[str, int]]) -> list[tuple[int | None, list[tuple[str, int]]]]:
    """The (session id, time) beats of a batch, in the order that applies them.

    Each session's beats must be applied in time order, so that each may extend the session for
    the next; sessions do not depend on each other. So the beats are walked in time order, and
    each time shared by ``SHARED_TIME_MIN`` sessions or more becomes its own group (labelled
    with that time), while the runs of rarer times in between stay one group of single beats
    (labelled None), still in time order.
    """
    by_time: dict[int, list[tuple[str, int]]] = {}
    for beat in sorted(set(beats), key=lambda b: (b[1], b[0])):
        by_time.setdefault(beat[1], []).append(beat)
    groups: list[tuple[int | None, list[tuple[str, int]]]] = []
    for at, shared in by_time.items():
        if len(shared) >= SHARED_TIME_MIN:
            groups.append((at, shared))
        elif groups and groups[-1][0] is None:
            groups[-1][1].extend(shared)
        else:
            groups.append((None, list(shared)))
    return groups
