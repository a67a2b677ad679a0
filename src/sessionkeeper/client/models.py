"""Typed results of sessions, and what every typed result is parsed with: frozen
dataclasses from the API's JSON, times as aware datetimes.

Parsing reads the fields the client knows and ignores the rest, so a newer server that adds
fields does not break an older client. The results of other areas live beside this module
(``operation_models``, ``presence_models``, ``stats_models``, ``webhook_models`` and the
``*_models`` of the features); ``sessionkeeper.client`` exports them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from sessionkeeper.client.protocol import EndReason, Status

Json = Mapping[str, Any]
HeartbeatOutcome = Literal["ok", "closed", "not_found"]
EndBy = Literal["client", "admin", "cleanup"]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def time_or_none(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


def bounds_or_none(value: list[float] | None) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a session achieved: scores, counts and tags, and free metadata."""

    metrics: Mapping[str, float]
    counters: Mapping[str, int]
    tags: Mapping[str, list[str]]
    metadata: Mapping[str, Any]
    updated_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> Outcome:
        return cls(
            metrics=dict(data.get("metrics") or {}),
            counters=dict(data.get("counters") or {}),
            tags={name: list(items) for name, items in (data.get("tags") or {}).items()},
            metadata=dict(data.get("metadata") or {}),
            updated_at=time_or_none(data.get("updated_at")),
        )


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user_id: str
    kind: str
    label: str | None
    source: str | None
    attributes: Mapping[str, Any]
    status: Status
    end_reason: EndReason | None
    estimated: bool
    started_at: datetime
    last_seen_at: datetime
    expires_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    # Where the true duration lies, (low, high); equal for an exact end; None while open.
    duration_bounds_s: tuple[float, float] | None = None
    # The earlier session of the same user this one continues after a real gap.
    continues: str | None = None
    # The timeout in force: a heartbeat keeps the session open this long (None from servers
    # that do not say).
    timeout_s: float | None = None
    # How often late evidence corrected it after it timed out, and when last.
    amended_count: int = 0
    amended_at: datetime | None = None
    # Filterable ids the session is about (``{"teacher_id": "t1"}``); empty when none.
    subject: Mapping[str, str] = field(default_factory=dict)
    # What it achieved, once an outcome is set (None before, and in heartbeat answers, which
    # do not carry it).
    outcome: Outcome | None = None

    @property
    def is_active(self) -> bool:
        return self.status is Status.ACTIVE

    @classmethod
    def from_json(cls, data: Json) -> Session:
        return cls(
            id=data["id"],
            user_id=data["user_id"],
            kind=data["kind"],
            label=data.get("label"),
            source=data.get("source"),
            attributes=dict(data.get("attributes") or {}),
            status=Status(data["status"]),
            end_reason=EndReason(data["end_reason"]) if data.get("end_reason") else None,
            estimated=bool(data.get("estimated", False)),
            started_at=parse_time(data["started_at"]),
            last_seen_at=parse_time(data["last_seen_at"]),
            expires_at=time_or_none(data.get("expires_at")),
            ended_at=time_or_none(data.get("ended_at")),
            duration_s=data.get("duration_s"),
            duration_bounds_s=bounds_or_none(data.get("duration_bounds_s")),
            continues=data.get("continues"),
            timeout_s=data.get("timeout_s"),
            amended_count=int(data.get("amended_count") or 0),
            amended_at=time_or_none(data.get("amended_at")),
            subject=dict(data.get("subject") or {}),
            outcome=None if data.get("outcome") is None else Outcome.from_json(data["outcome"]),
        )


@dataclass(frozen=True, slots=True)
class HeartbeatResult(Session):
    """The session after a heartbeat. ``applied`` is False when the beat was older than the
    session's last one and so changed nothing (its attributes neither); ``reason`` says so."""

    applied: bool = True
    reason: str | None = None

    @classmethod
    def from_json(cls, data: Json) -> HeartbeatResult:
        session = Session.from_json(data)
        return cls(
            **{f.name: getattr(session, f.name) for f in fields(Session)},
            applied=bool(data.get("applied", True)),
            reason=data.get("reason"),
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, newest first; ``next_cursor`` is None on the last page."""

    items: tuple[Session, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Json) -> Page:
        return cls(
            items=tuple(Session.from_json(item) for item in data["items"]),
            next_cursor=data.get("next_cursor"),
        )


@dataclass(frozen=True, slots=True)
class BatchItem:
    session_id: str
    outcome: HeartbeatOutcome
    # The session's status after the whole batch; None when it was not found.
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    results: tuple[BatchItem, ...]
    ok: int
    closed: int
    not_found: int

    @classmethod
    def from_json(cls, data: Json) -> BatchResult:
        return cls(
            results=tuple(
                BatchItem(
                    session_id=item["session_id"],
                    outcome=item["outcome"],
                    status=Status(item["status"]) if item.get("status") else None,
                )
                for item in data["results"]
            ),
            ok=data["ok"],
            closed=data["closed"],
            not_found=data["not_found"],
        )
