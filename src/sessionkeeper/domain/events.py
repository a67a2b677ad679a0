"""Change events: small facts about what a committed write changed.

Storage records them while a write runs (``Transaction.record``); the writer hands them to the
subscribers only after the transaction that made them committed, once. A write that rolls
back publishes nothing. Subscribers turn them into metrics, webhook deliveries, rollup
refreshes and live counters, so none of those needs to be threaded through the write itself.

Events carry plain values (ids, epoch milliseconds), never rows or connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sessionkeeper.domain.lifecycle import EndReason, Status


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """The base of every change event. Features define their own events by subclassing it;
    ``name`` is the event's public name (``session.started``), as webhooks spell it."""

    name: ClassVar[str] = "change"
    tenant_id: int


@dataclass(frozen=True, slots=True)
class SessionStarted(ChangeEvent):
    name: ClassVar[str] = "session.started"
    session_id: str
    user_id: str
    kind: str
    started_at: int
    source: str | None = None


@dataclass(frozen=True, slots=True)
class SessionEnded(ChangeEvent):
    """A session was closed: by its client, an admin, lost presence, a timeout or cleanup."""

    name: ClassVar[str] = "session.ended"
    session_id: str
    user_id: str
    kind: str
    status: Status
    reason: EndReason
    started_at: int
    ended_at: int
    estimated: bool
    # Set when the session was a participant's attendance in a room.
    room_id: str | None = None

    @property
    def timed_out(self) -> bool:
        return self.status is Status.TIMED_OUT


@dataclass(frozen=True, slots=True)
class SessionAmended(ChangeEvent):
    """A closed session was corrected by late evidence: its end moved, or it was reopened."""

    name: ClassVar[str] = "session.amended"
    session_id: str
    user_id: str
    kind: str
    status: Status
    started_at: int
    previous_ended_at: int
    ended_at: int | None


@dataclass(frozen=True, slots=True)
class HeartbeatsApplied(ChangeEvent):
    """How many heartbeats of one tenant a write applied, by outcome."""

    name: ClassVar[str] = "heartbeats.applied"
    ok: int = 0
    closed: int = 0
    not_found: int = 0


@dataclass(frozen=True, slots=True)
class PresenceReconciled(ChangeEvent):
    """What one snapshot or change set of a source did, as counts."""

    name: ClassVar[str] = "presence.reconciled"
    source: str
    started: int
    refreshed: int
    ended: int


@dataclass(frozen=True, slots=True)
class SessionDeleted(ChangeEvent):
    """A session was erased (``at`` is when); aggregates that counted it must forget it."""

    name: ClassVar[str] = "session.deleted"
    session_id: str
    user_id: str
    kind: str
    started_at: int
    ended_at: int | None
    at: int


@dataclass(frozen=True, slots=True)
class PolicyChanged(ChangeEvent):
    """The policy of a kind (``*``: the tenant's default) was set."""

    name: ClassVar[str] = "policy.changed"
    kind: str
    at: int  # when it was set


@dataclass(frozen=True, slots=True)
class ServiceResumed(ChangeEvent):
    """The service could write again after no process could (every one down, or the
    database unreachable) from ``unavailable_since`` to ``at``: a time that is nobody's
    silence. The kernel holds its sessions open a full timeout from ``at``; features whose
    clocks count inactivity do the same in the recovery's transaction. Server-wide:
    ``tenant_id`` is the server's (0)."""

    name: ClassVar[str] = "service.resumed"
    unavailable_since: int
    at: int
