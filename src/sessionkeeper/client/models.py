"""Typed results: frozen dataclasses parsed from the API's JSON, times as aware datetimes.

Parsing reads the fields the client knows and ignores the rest, so a newer server that adds
fields does not break an older client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, Literal, NotRequired, TypedDict

from sessionkeeper.client.protocol import DEFAULT_KIND, EndReason, Status

Json = Mapping[str, Any]
HeartbeatOutcome = Literal["ok", "closed", "not_found"]
EndBy = Literal["client", "admin", "cleanup"]


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


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _time_or_none(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


def _bounds_or_none(value: list[float] | None) -> tuple[float, float] | None:
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
            updated_at=_time_or_none(data.get("updated_at")),
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
            expires_at=_time_or_none(data.get("expires_at")),
            ended_at=_time_or_none(data.get("ended_at")),
            duration_s=data.get("duration_s"),
            duration_bounds_s=_bounds_or_none(data.get("duration_bounds_s")),
            continues=data.get("continues"),
            timeout_s=data.get("timeout_s"),
            amended_count=int(data.get("amended_count") or 0),
            amended_at=_time_or_none(data.get("amended_at")),
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


@dataclass(frozen=True, slots=True)
class Policy:
    kind: str
    heartbeat_interval_s: float
    timeout_s: float
    grace_s: float
    # For rooms of the kind: how often participants send presence, and how long a room may
    # be silent before it is inactive.
    presence_interval_s: float = 30.0
    room_timeout_s: float = 3600.0
    # Browser sessions whose last beat said the page was hidden time out after this.
    hidden_timeout_s: float = 900.0
    builtin: bool = False

    @classmethod
    def from_json(cls, data: Json) -> Policy:
        return cls(
            kind=data["kind"],
            heartbeat_interval_s=float(data["heartbeat_interval_s"]),
            timeout_s=float(data["timeout_s"]),
            grace_s=float(data["grace_s"]),
            presence_interval_s=float(data.get("presence_interval_s", 30.0)),
            room_timeout_s=float(data.get("room_timeout_s", 3600.0)),
            hidden_timeout_s=float(data.get("hidden_timeout_s", 900.0)),
            builtin=bool(data.get("builtin", False)),
        )


@dataclass(frozen=True, slots=True)
class Policies:
    items: tuple[Policy, ...]

    def for_kind(self, kind: str) -> Policy | None:
        """The policy sessions of ``kind`` get: the kind's own, else the tenant's ``*``."""
        by_kind = {policy.kind: policy for policy in self.items}
        return by_kind.get(kind) or by_kind.get(DEFAULT_KIND)

    @classmethod
    def from_json(cls, data: Json) -> Policies:
        return cls(items=tuple(Policy.from_json(item) for item in data["items"]))


@dataclass(frozen=True, slots=True)
class KindHealth:
    active: int
    overdue: int
    timed_out_last_hour: int
    active_users: int


@dataclass(frozen=True, slots=True)
class SweepInfo:
    at: datetime
    lag_s: float
    duration_s: float
    closed: int
    error: str | None
    last_success_at: datetime | None


@dataclass(frozen=True, slots=True)
class JobInfo:
    """The last run of a periodic job (``sweep``, ``cleanup``…)."""

    started_at: datetime
    at: datetime
    lag_s: float
    duration_s: float
    error: str | None
    last_success_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> JobInfo:
        return cls(
            started_at=parse_time(data["started_at"]),
            at=parse_time(data["at"]),
            lag_s=data["lag_s"],
            duration_s=data["duration_s"],
            error=data.get("error"),
            last_success_at=_time_or_none(data.get("last_success_at")),
        )


@dataclass(frozen=True, slots=True)
class Health:
    """``status`` is ``ok``, ``degraded`` or ``down``; ``reasons`` say why it is not ok."""

    status: str
    reasons: tuple[str, ...]
    database: bool
    now: datetime
    active_sessions: int
    overdue_sessions: int
    timed_out_last_hour: int
    active_users: int
    kinds: Mapping[str, KindHealth]
    last_sweep: SweepInfo | None
    # The last run of each periodic job, by name.
    jobs: Mapping[str, JobInfo] = field(default_factory=dict)
    # Only filled when asked for with ``details=True``.
    overdue: tuple[Session, ...] | None = None
    recently_timed_out: tuple[Session, ...] | None = None

    @classmethod
    def from_json(cls, data: Json) -> Health:
        sweep = data.get("last_sweep")
        return cls(
            status=data["status"],
            reasons=tuple(data.get("reasons", ())),
            database=bool(data["database"]),
            now=parse_time(data["now"]),
            active_sessions=data["active_sessions"],
            overdue_sessions=data["overdue_sessions"],
            timed_out_last_hour=data["timed_out_last_hour"],
            active_users=data["active_users"],
            kinds={
                kind: KindHealth(
                    active=k["active"],
                    overdue=k["overdue"],
                    timed_out_last_hour=k["timed_out_last_hour"],
                    active_users=k["active_users"],
                )
                for kind, k in (data.get("kinds") or {}).items()
            },
            last_sweep=None
            if sweep is None
            else SweepInfo(
                at=parse_time(sweep["at"]),
                lag_s=sweep["lag_s"],
                duration_s=sweep["duration_s"],
                closed=sweep["closed"],
                error=sweep.get("error"),
                last_success_at=_time_or_none(sweep.get("last_success_at")),
            ),
            jobs={name: JobInfo.from_json(job) for name, job in (data.get("jobs") or {}).items()},
            overdue=_sessions_or_none(data.get("overdue")),
            recently_timed_out=_sessions_or_none(data.get("recently_timed_out")),
        )


def _sessions_or_none(items: list[Json] | None) -> tuple[Session, ...] | None:
    return None if items is None else tuple(Session.from_json(item) for item in items)


@dataclass(frozen=True, slots=True)
class SweepResult:
    closed: int
    at: datetime
    duration_s: float

    @classmethod
    def from_json(cls, data: Json) -> SweepResult:
        return cls(closed=data["closed"], at=parse_time(data["at"]), duration_s=data["duration_s"])


@dataclass(frozen=True, slots=True)
class ReasonTotals:
    sessions: int
    time_s: float


@dataclass(frozen=True, slots=True)
class QualityGroup:
    """How the sessions of one kind, source or day ended, and how sure their time is."""

    key: str
    sessions: int
    time_s: float
    by_reason: Mapping[str, ReasonTotals]
    estimated_share: float | None
    mean_bound_width_s: float | None
    amended: int
    continuations: int
    lost_end_share: float | None

    @classmethod
    def from_json(cls, data: Json) -> QualityGroup:
        return cls(
            key=data["key"],
            sessions=data["sessions"],
            time_s=float(data["time_s"]),
            by_reason={
                reason: ReasonTotals(sessions=r["sessions"], time_s=float(r["time_s"]))
                for reason, r in (data.get("by_reason") or {}).items()
            },
            estimated_share=data.get("estimated_share"),
            mean_bound_width_s=data.get("mean_bound_width_s"),
            amended=data["amended"],
            continuations=data["continuations"],
            lost_end_share=data.get("lost_end_share"),
        )


@dataclass(frozen=True, slots=True)
class QualityWorst:
    key: str
    lost_end_share: float | None
    sessions: int


@dataclass(frozen=True, slots=True)
class QualityReport:
    """``GET /v1/metrics/quality``: per group, how sessions ended; the worst groups first."""

    from_day: date
    to_day: date
    group_by: str
    groups: tuple[QualityGroup, ...]
    worst: tuple[QualityWorst, ...]

    @classmethod
    def from_json(cls, data: Json) -> QualityReport:
        return cls(
            from_day=date.fromisoformat(data["from_day"]),
            to_day=date.fromisoformat(data["to_day"]),
            group_by=data["group_by"],
            groups=tuple(QualityGroup.from_json(g) for g in data["groups"]),
            worst=tuple(
                QualityWorst(
                    key=w["key"], lost_end_share=w.get("lost_end_share"), sessions=w["sessions"]
                )
                for w in data["worst"]
            ),
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what by hand (``actor``, ``action``), when, to which ``target``."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    details: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Json) -> AuditEntry:
        return cls(
            id=data["id"],
            at=parse_time(data["at"]),
            actor=data["actor"],
            action=data["action"],
            target=data.get("target"),
            details=dict(data.get("details") or {}),
        )


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: tuple[AuditEntry, ...]
    next_before: int | None

    @classmethod
    def from_json(cls, data: Json) -> AuditPage:
        return cls(
            items=tuple(AuditEntry.from_json(item) for item in data["items"]),
            next_before=data.get("next_before"),
        )


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


# Statistics


@dataclass(frozen=True, slots=True)
class StatsGroup:
    """The statistics of one group: its ``key`` is the kind, the UTC day (``2026-11-21``) or
    the subject field's value (None for sessions without that field)."""

    key: str | None
    total: int
    active: int
    ended: int
    timed_out: int
    expired: int
    total_duration_s: float
    estimated_s: float
    bounds_s: tuple[float, float]
    average_duration_s: float | None
    p50_duration_s: float | None
    p95_duration_s: float | None

    @classmethod
    def from_json(cls, data: Json) -> StatsGroup:
        return cls(key=data.get("key"), **_counts(data))


def _counts(data: Json) -> dict[str, Any]:
    return {
        "total": data["total"],
        "active": data["active"],
        "ended": data["ended"],
        "timed_out": data["timed_out"],
        "expired": data["expired"],
        "total_duration_s": float(data["total_duration_s"]),
        "estimated_s": float(data.get("estimated_s") or 0),
        "bounds_s": _bounds_or_none(data.get("bounds_s")) or (0.0, 0.0),
        "average_duration_s": data.get("average_duration_s"),
        "p50_duration_s": data.get("p50_duration_s"),
        "p95_duration_s": data.get("p95_duration_s"),
    }


@dataclass(frozen=True, slots=True)
class SessionStats:
    """Counts and durations of the matching sessions, and per group when grouped.

    Overdue sessions the sweep has yet to close count as ``timed_out``; durations are those
    of closed sessions; percentiles are nearest-rank (always a measured duration)."""

    total: int
    active: int
    ended: int
    timed_out: int
    expired: int
    total_duration_s: float
    estimated_s: float
    bounds_s: tuple[float, float]
    average_duration_s: float | None
    p50_duration_s: float | None
    p95_duration_s: float | None
    group_by: str | None
    groups: tuple[StatsGroup, ...]
    truncated: bool

    @classmethod
    def from_json(cls, data: Json) -> SessionStats:
        return cls(
            **_counts(data),
            group_by=data.get("group_by"),
            groups=tuple(StatsGroup.from_json(group) for group in data.get("groups") or ()),
            truncated=bool(data.get("truncated", False)),
        )


# Webhooks


@dataclass(frozen=True, slots=True)
class Webhook:
    """A registered endpoint; ``status`` is ``enabled`` or ``disabled`` (it answered 410)."""

    id: str
    url: str
    events: tuple[str, ...]
    description: str | None
    status: str
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> Webhook:
        return cls(**_webhook(data))


def _webhook(data: Json) -> dict[str, Any]:
    return {
        "id": data["id"],
        "url": data["url"],
        "events": tuple(data["events"]),
        "description": data.get("description"),
        "status": data["status"],
        "disabled_reason": data.get("disabled_reason"),
        "created_at": parse_time(data["created_at"]),
        "updated_at": parse_time(data["updated_at"]),
        "previous_secret_expires_at": _time_or_none(data.get("previous_secret_expires_at")),
    }


@dataclass(frozen=True, slots=True)
class WebhookCreated(Webhook):
    """A new endpoint with its signing ``secret`` (``whsec_…``), which is shown only once."""

    secret: str

    @classmethod
    def from_json(cls, data: Json) -> WebhookCreated:
        return cls(**_webhook(data), secret=data["secret"])


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    """A rotated secret, shown only once; the previous one signs too until the given time."""

    id: str
    secret: str
    previous_secret_expires_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> WebhookSecret:
        return cls(
            id=data["id"],
            secret=data["secret"],
            previous_secret_expires_at=_time_or_none(data.get("previous_secret_expires_at")),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to one endpoint; ``id`` is its ``webhook-id``, the same on every attempt.
    ``status``: ``pending``, ``delivered`` or ``failed``."""

    id: str
    webhook_id: str
    event_type: str
    status: str
    attempts: int
    payload: Mapping[str, Any]
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> Delivery:
        return cls(
            id=data["id"],
            webhook_id=data["webhook_id"],
            event_type=data["event_type"],
            status=data["status"],
            attempts=data["attempts"],
            payload=dict(data["payload"]),
            created_at=parse_time(data["created_at"]),
            next_attempt_at=_time_or_none(data.get("next_attempt_at")),
            last_attempt_at=_time_or_none(data.get("last_attempt_at")),
            last_status_code=data.get("last_status_code"),
            last_error=data.get("last_error"),
            delivered_at=_time_or_none(data.get("delivered_at")),
        )


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """Deliveries newest first; ``next_cursor`` is None on the last page."""

    items: tuple[Delivery, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Json) -> DeliveryPage:
        return cls(
            items=tuple(Delivery.from_json(item) for item in data["items"]),
            next_cursor=data.get("next_cursor"),
        )


def webhooks_from_json(data: Json) -> tuple[Webhook, ...]:
    return tuple(Webhook.from_json(item) for item in data["items"])
