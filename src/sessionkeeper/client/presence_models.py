"""What a presence feed sends (snapshot entries, leaves) and the typed answers to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from sessionkeeper.client.models import Json, parse_time


class PresenceEntry(TypedDict):
    """One line of a presence snapshot: who is doing what right now."""

    user_id: str
    kind: str
    label: NotRequired[str | None]
    attributes: NotRequired[dict[str, Any] | None]


class PresenceLeave(TypedDict):
    """Someone stopped doing something; matched on user, kind and label."""

    user_id: str
    kind: str
    label: NotRequired[str | None]


@dataclass(frozen=True, slots=True)
class EntryRef:
    user_id: str
    kind: str
    label: str | None


@dataclass(frozen=True, slots=True)
class SessionRef:
    session_id: str
    user_id: str
    kind: str
    label: str | None


@dataclass(frozen=True, slots=True)
class PresenceSummary:
    """What a snapshot or change set did, in counts only (asked with ``reply=summary``)."""

    source: str
    at: datetime
    dry_run: bool
    stale: bool
    started_count: int
    refreshed_count: int
    ended_count: int
    timed_out_count: int

    @classmethod
    def from_json(cls, data: Json) -> PresenceSummary:
        return cls(
            source=data["source"],
            at=parse_time(data["at"]),
            dry_run=bool(data["dry_run"]),
            stale=bool(data.get("stale", False)),
            started_count=data["started_count"],
            refreshed_count=data["refreshed_count"],
            ended_count=data["ended_count"],
            timed_out_count=data["timed_out_count"],
        )


@dataclass(frozen=True, slots=True)
class PresenceResult:
    """What a snapshot or change set did (or would do, for a dry run).

    ``stale`` is true when a newer state of the source had been applied already: this one
    arrived late and changed nothing.
    """

    source: str
    at: datetime
    dry_run: bool
    stale: bool
    to_start: tuple[EntryRef, ...]
    to_refresh: tuple[SessionRef, ...]
    to_end: tuple[SessionRef, ...]
    started: tuple[str, ...]
    started_count: int
    refreshed_count: int
    ended_count: int
    timed_out_count: int

    @classmethod
    def from_json(cls, data: Json) -> PresenceResult:
        return cls(
            source=data["source"],
            at=parse_time(data["at"]),
            dry_run=bool(data["dry_run"]),
            stale=bool(data.get("stale", False)),
            to_start=tuple(
                EntryRef(user_id=e["user_id"], kind=e["kind"], label=e.get("label"))
                for e in data["to_start"]
            ),
            to_refresh=tuple(_session_ref(r) for r in data["to_refresh"]),
            to_end=tuple(_session_ref(r) for r in data["to_end"]),
            started=tuple(data["started"]),
            started_count=data["started_count"],
            refreshed_count=data["refreshed_count"],
            ended_count=data["ended_count"],
            timed_out_count=data["timed_out_count"],
        )


def _session_ref(data: Json) -> SessionRef:
    return SessionRef(
        session_id=data["session_id"],
        user_id=data["user_id"],
        kind=data["kind"],
        label=data.get("label"),
    )
