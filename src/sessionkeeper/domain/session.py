"""The session record as the rest of the code sees it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.lifecycle import EndReason, Lifecycle, Status


@dataclass(frozen=True, slots=True)
class Session:
    tenant_id: int
    id: str
    user_id: str
    kind: str
    label: str | None
    source: str | None
    attributes: Mapping[str, Any]
    status: Status
    end_reason: EndReason | None
    estimated: bool
    started_at: int
    last_seen_at: int
    expires_at: int
    ended_at: int | None
    timeout_ms: int
    grace_ms: int
    start_digest: str = field(default="", compare=False)
    # The session this one continues after a real gap (a client stalled past the timeout).
    continues: str | None = None
    # How often late evidence corrected the session after it was closed by timeout, and when.
    amended_count: int = 0
    amended_at: int | None = None
    # The deadline granted after the service's own outage (``lifecycle.Lifecycle``).
    held_until: int | None = None
    # The heartbeat interval of the policy in force: how soon a live client beats again.
    interval_ms: int = 0
    # Filterable ids the session is about (``domain/subject.py``); empty when none.
    subject: Mapping[str, str] = field(default_factory=dict)

    @property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle(
            status=self.status,
            started_at=self.started_at,
            last_seen_at=self.last_seen_at,
            expires_at=self.expires_at,
            timeout_ms=self.timeout_ms,
            grace_ms=self.grace_ms,
            ended_at=self.ended_at,
            end_reason=self.end_reason,
            estimated=self.estimated,
            amended_count=self.amended_count,
            amended_at=self.amended_at,
            held_until=self.held_until,
        )

    def with_lifecycle(self, state: Lifecycle) -> Session:
        """This session in the lifecycle state ``state`` (what the rules made of it)."""
        return replace(
            self,
            status=state.status,
            end_reason=state.end_reason,
            estimated=state.estimated,
            last_seen_at=state.last_seen_at,
            expires_at=state.expires_at,
            ended_at=state.ended_at,
            timeout_ms=state.timeout_ms,
            amended_count=state.amended_count,
            amended_at=state.amended_at,
            held_until=state.held_until,
        )

    def as_of(self, now: int) -> Session:
        """The session as the rules say it stands at ``now``. One that is overdue but not yet
        swept is shown as the sweep will close it — timed out at its estimated end — so that
        no read contradicts the rules, whatever the sweep interval."""
        state = self.lifecycle
        if not lifecycle.is_overdue(state, now):
            return self
        return self.with_lifecycle(lifecycle.sweep(state, now))

    @property
    def duration_ms(self) -> int | None:
        return None if self.ended_at is None else self.ended_at - self.started_at

    @property
    def duration_bounds_ms(self) -> tuple[int, int] | None:
        """Where the true duration lies (``lifecycle.duration_bounds``); None while open."""
        return lifecycle.duration_bounds(self.lifecycle, self.interval_ms)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A start request after validation, with the id and time settled."""

    id: str
    user_id: str
    kind: str
    label: str | None
    attributes: Mapping[str, Any]
    started_at: int
    timeout_ms: int
    grace_ms: int
    start_digest: str
    source: str | None = None
    # The policy's heartbeat interval; unknown (None): a fifth of the timeout, as by default.
    interval_ms: int | None = None
    continues: str | None = None
    subject: Mapping[str, str] | None = None
    # A participant's attendance: the room it belongs to.
    room_id: str | None = None


def start_digest(request: Mapping[str, Any]) -> str:
    """A stable digest of what a client sent to start a session.

    Two starts with the same id are the same start (a retry) exactly when their digests match.
    """
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
