"""The specification that storage's SQL is tested against: the lifecycle rules of a session.

They are pure functions of a session's state and ``now``. Storage carries out the same rules
as single conditional UPDATEs (``storage/sessions.py``, ``storage/heartbeats.py``); the
integration tests run random scripts through both and check that they agree, and the Python
client and the browser tracker mirror them. All times are epoch milliseconds.

- ``expires_at = last_seen_at + timeout``, or the deadline held after the service's own
  outage (``held_until``) when that is later; a session is *overdue* when active and
  ``now > expires_at``.
- A heartbeat moves ``last_seen_at`` forward, never backward, and only while the session is
  alive at the heartbeat's time (``at <= expires_at``): a beat after a silence longer than the
  timeout cannot revive a session that already timed out.
- An overdue session is closed with ``ended_at = min(last_seen_at + grace, expires_at, now)``,
  estimated (``expires_at`` only matters when a policy raised the grace after the last beat).
  Whoever notices first closes it (the sweep, a heartbeat, an end), so the outcome never depends
  on when the sweep last ran.
- A client end is exact: ``ended_at = max(at, last_seen_at)``, since a heartbeat proved the
  session alive until ``last_seen_at``. Ending a session closed by a fact (an end, lost
  presence, cleanup) changes nothing.
- Late evidence counts. A heartbeat or an end made while the session was alive (its ``at`` no
  later than the ``expires_at`` that the evidence before it established) is applied even when
  it arrives after the session was closed by timeout: the session is extended — active again
  if ``now`` is within the new ``expires_at``, otherwise closed again at the new estimated end —
  or its end becomes exact, and the amendment is counted (``amended_count``, ``amended_at``).
  Evidence after a real gap (later than ``expires_at``) never revives: the client starts a
  continuation session instead. Beats delivered together are applied in time order, each
  extending the chain the one before it established.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    amended_count: int = 0
    amended_at: int | None = None
    # The deadline the service granted after its own outage (``storage/liveness.py``): a beat
    # made before the outage but delivered after it extends from there, never back before it.
    held_until: int | None = None

    @property
    def is_active(self) -> bool:
        return self.status is Status.ACTIVE

    @property
    def is_amendable(self) -> bool:
        """Closed by timeout: its end is an estimate that late evidence may correct. An end
        by the client, an admin, lost presence or cleanup is a fact and stays."""
        return self.status is Status.TIMED_OUT

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


def duration_bounds(session: Lifecycle, interval_ms: int) -> tuple[int, int] | None:
    """Where the true duration lies, in ms: ``(low, high)``; None while the session is open.

    - An end reported by the client or an admin is exact: ``low == high``.
    - An estimated end (timeout, cleanup) lies between the last evidence and the moment the
      next heartbeat was due, assuming beats are sent on schedule every ``interval_ms``:
      the client was alive at ``last_seen_at`` and, had it lived on, would have beaten again
      by ``last_seen_at + interval`` — and it was declared gone at ``expires_at`` anyway.
    - Lost presence: the snapshot that missed the session ended it (``ended_at``), the one
      before still had it (``last_seen_at``): the end lies between those two snapshots.
    """
    if session.ended_at is None:
        return None
    start = session.started_at
    if session.end_reason is EndReason.PRESENCE_LOST:
        return session.last_seen_at - start, session.ended_at - start
    if not session.estimated:
        return session.ended_at - start, session.ended_at - start
    due = min(session.last_seen_at + interval_ms, session.expires_at)
    # ``ended_at`` is never after ``due`` under a policy of today; one stored before grace
    # was bounded by the interval could credit more, and the bounds still hold the estimate.
    return session.last_seen_at - start, max(due, session.last_seen_at, session.ended_at) - start


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


def _alive_at(session: Lifecycle, at: int) -> bool:
    """Was the session alive at ``at`` by the evidence it holds (open, or closed by timeout
    with ``at`` within the deadline its last heartbeat set)?"""
    return (session.is_active or session.is_amendable) and at <= session.expires_at


def _extend(session: Lifecycle, at: int, timeout_ms: int) -> Lifecycle:
    """One beat made while alive: ``last_seen_at`` moves to ``at`` when later, reopening a
    session that timed out meanwhile; the caller sweeps the result at ``now``."""
    if not _alive_at(session, at) or at <= session.last_seen_at:
        return session
    return replace(
        session,
        status=Status.ACTIVE,
        end_reason=None,
        ended_at=None,
        estimated=False,
        last_seen_at=at,
        expires_at=max(at + timeout_ms, session.held_until or 0),
        timeout_ms=timeout_ms,
    )


def _amended(before: Lifecycle, after: Lifecycle, now: int) -> Lifecycle:
    """Count the amendment when evidence changed a session that had been closed by timeout."""
    if not before.is_amendable or after == before:
        return after
    return replace(after, amended_count=before.amended_count + 1, amended_at=now)


def heartbeats(
    session: Lifecycle, ats: Sequence[int], now: int, *, timeout_ms: int | None = None
) -> tuple[Lifecycle, list[bool]]:
    """Apply beats made at ``ats``, delivered together at ``now``, in time order.

    Returns the session afterwards and, for each beat in the order given, whether it counted:
    made while the session was alive by the chain of the beats before it (an older or
    repeated beat counts without changing anything). A beat that did not count came after a
    real gap, or after the session was closed by a fact. ``timeout_ms`` is the policy in
    force now; a changed policy applies from the next beat.

    A session overdue at ``now`` is taken as the sweep closes it, since reads already show
    it so: beats that revive it amend it, whether the sweep came first or not.
    """
    timeout = session.timeout_ms if timeout_ms is None else timeout_ms
    counted: dict[int, bool] = {}
    before = sweep(session, now)
    state = before
    for index in sorted(range(len(ats)), key=lambda i: ats[i]):
        counted[index] = _alive_at(state, ats[index])
        state = _extend(state, ats[index], timeout)
    return _amended(before, sweep(state, now), now), [counted[i] for i in range(len(ats))]


def heartbeat(session: Lifecycle, at: int, now: int, *, timeout_ms: int | None = None) -> Lifecycle:
    """Apply one heartbeat made at ``at``, received at ``now`` (see :func:`heartbeats`)."""
    return heartbeats(session, [at], now, timeout_ms=timeout_ms)[0]


def end(session: Lifecycle, at: int, now: int, reason: EndReason = EndReason.CLIENT) -> Lifecycle:
    """End the session at ``at``. Repeating an end, or ending a session closed by a fact, is
    a no-op.

    An end made after the session had already expired (``at > expires_at``) cannot be honoured
    as exact: the client was silent longer than the timeout, so the session timed out. An end
    made in time but delivered after the sweep closed the session is exact: late evidence,
    also when the session is only overdue (reads show it closed; the sweep has not come).
    """
    before = sweep(session, now)
    if not _alive_at(before, at):
        return sweep(before, max(now, at))
    ended = replace(
        before,
        status=STATUS_FOR_REASON[reason],
        end_reason=reason,
        ended_at=max(at, before.last_seen_at),
        estimated=False,
    )
    return _amended(before, ended, now)


def client_time_error(at: int, now: int, *, max_past_ms: int, max_future_ms: int) -> str | None:
    """Why a client-reported time is refused, or None when it is acceptable."""
    if at < now - max_past_ms:
        return f"is more than {max_past_ms // 1000} s in the past"
    if at > now + max_future_ms:
        return f"is more than {max_future_ms // 1000} s in the future"
    return None
