"""Typed results of the operator's calls: policies, health, the sweep, the quality report
and the audit log (unknown fields are ignored)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sessionkeeper.client.models import Json, Session, parse_time, time_or_none
from sessionkeeper.client.protocol import DEFAULT_KIND


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
            last_success_at=time_or_none(data.get("last_success_at")),
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
                last_success_at=time_or_none(sweep.get("last_success_at")),
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
