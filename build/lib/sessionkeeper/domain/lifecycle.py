"""The specification that storage's SQL is tested against: the lifecycle rules of a session.

They are pure functions of a session's state and ``now``. Storage carries out the same rules
as single conditional UPDATEs (``storage/sessions.py``, ``storage/heartbeats.py``); the
integration tests run random scripts through both and check that they agree, and the Python
client and the browser tracker mirror them. All times are epoch milliseconds.

- ``expires_at = last_seen_at + timeout``; a session is *overdue* when active and
  ``now > expires_at``.
- A heartbeat moves ``last_seen_at`` forward, never backward, and only while the session is
  alive at the heartbeat's time (``at <= expires_at``): a beat after a silence longer than the
  timeout cannot revive a session that already timed out.
- An overdue session is closed with ``ended_at = min(last_seen_at + grace, expires_at, now)``,
  estimated (``expires_at`` only matters when a policy raised the grace after the last beat).
  Whoever notices first closes it (the sweep, a heartbeat, an end), so the outcome never depends
  on when the sweep last ran.
- A client end is exact: ``ended_at = max(at, last_seen_at)``, since a heartbeat proved the
  session alive until ``last_seen_at``. Ending a closed session changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Status(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"
    TIMED_OUT = "timed_out"
    EXPIRED = "expired"


class EndReason(StrEnum):
    CLIENT = "client"
    TIMEOUT = "timeout"
    PRESENCE_LOST = "presence_lost"
    CLEANUP = "cleanup"
    ADMIN = "admin"


# The status a session takes when it is ended for a reason.
STATUS_FOR_REASON: dict[EndReason, Status] = {
    EndReason.CLIENT: Status.ENDED,
    EndReason.ADMIN: Status.ENDED,
    EndReason.PRESENCE_LOST: Status.ENDED,
    EndReason.TIMEOUT: Status.TIMED_OUT,
    EndReason.CLEANUP: Status.EXPIRED,
}


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The part of a session the lifecycle rules read and write."""

    status: Status
    started_at: int
    last_seen_at: int
    expires_at: int
    timeout_ms: int
    grace_ms: int
    ended_at: int | None = None
    end_reason: EndReason | None = None
    estimated: bool = False

    @property
    def is_active(self) -> bool:
        return self.status is Status.ACTIVE

    @property
    def duration_ms(self) -> int | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


def start(started_at: int, *, timeout_ms: int, grace_ms: int) -> Lifecycle:
    return Lifecycle(
        status=Status.ACTIVE,
        started_at=started_at,
        last_seen_at=started_at,
        expires_at=started_at + timeout_ms,
        timeout_ms=timeout_ms,
        grace_ms=grace_ms,
    )


def is_overdue(session: Lifecycle, now: int) -> bool:
    return session.is_active and now > session.expires_at


def estimated_end(session: Lifecycle, now: int) -> int:
    # Never past expires_at: a grace raised by a policy change after the last heartbeat
    # must not credit time after the moment the session was declared gone.
    return min(session.last_seen_at + session.grace_ms, session.expires_at, now)


def sweep(session: Lifecycle, now: int) -> Lifecycle:
    """Close the session at its estimated end if it is overdue; otherwise leave it be."""
    if not is_overdue(session, now):
        return session
    return replace(
        session,
        status=Status.TIMED_OUT,
        end_reason=EndReason.TIMEOUT,
        ended_at=estimated_end(session, now),
        estimated=True,
    )


def heartbeat(session: Lifecycle, at: int, now: int, *, timeout_ms: int | None = None) -> Lifecycle:
    """Apply a heartbeat made at ``at``, received at ``now``.

    ``timeout_ms`` is the policy in force now; a changed policy applies from the next beat.
    The result is closed when the session was closed already or turns out overdue.
    """
    if not session.is_active:
        return session
    if session.last_seen_at < at <= session.expires_at:
        timeout = session.timeout_ms if timeout_ms is None else timeout_ms
        session = replace(session, last_seen_at=at, expires_at=at + timeout, timeout_ms=timeout)
    return sweep(session, now)


def end(session: Lifecycle, at: int, now: int, reason: EndReason = EndReason.CLIENT) -> Lifecycle:
    """End the session at ``at``. Repeating an end, or ending a closed session, is a no-op.

    An end made after the session had already expired (``at > expires_at``) cannot be honoured
    as exact: the client was silent longer than the timeout, so the session timed out.
    """
    if not session.is_active:
        return session
    if at > session.expires_at:
        return sweep(session, max(now, at))
    return replace(
        session,
        status=STATUS_FOR_REASON[reason],
        end_reason=reason,
        ended_at=max(at, session.last_seen_at),
        estimated=False,
    )


def client_time_error(at: int, now: int, *, max_past_ms: int, max_future_ms: int) -> str | None:
    """Why a client-reported time is refused, or None when it is acceptable."""
    if at < now - max_past_ms:
        return f"is more than {max_past_ms // 1000} s in the past"
    if at > now + max_future_ms:
        return f"is more than {max_future_ms // 1000} s in the future"
    return None
