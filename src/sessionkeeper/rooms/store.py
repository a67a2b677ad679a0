"""SQL for rooms and their attendances.

A room is a row of ``sessions`` (its kind, label and attributes; ``user_id`` is who made it)
and a row of ``rooms``; an attendance is a row of ``sessions`` with ``room_id`` set. Every
change of an attendance is the kernel's own (``storage/sessions.py``, ``storage/heartbeats.py``);
what is the room's is here: its activity mark, its end, and closing it and its open
attendances once it is inactive (``close_inactive``), as ``rules.py`` specifies.

These functions run inside a transaction they are given and return plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sessionkeeper.domain.events import SessionEnded
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.listing import Cursor
from sessionkeeper.domain.policy import Policy, resolve_policy
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import NewSession, Session, start_digest
from sessionkeeper.rooms import rules
from sessionkeeper.rooms.events import ParticipantJoined, ParticipantLeft, RoomClosed, RoomCreated
from sessionkeeper.rooms.tables import rooms as r
from sessionkeeper.storage import sessions as session_store
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.sessions import (
    SESSION_COLUMNS,
    close_overdue,
    close_rows,
    exact_end_values,
    row_to_session,
)
from sessionkeeper.storage.source_beats import LAST_SEEN_AT
from sessionkeeper.storage.statuses import IS_ACTIVE, status_is
from sessionkeeper.storage.tables import sessions as t
from sessionkeeper.storage.transaction import Transaction


@dataclass(frozen=True, slots=True)
class Room:
    session: Session
    presence_interval_ms: int
    room_timeout_ms: int
    last_activity_at: int
    inactive_at: int | None
    closed_at: int | None

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def is_open(self) -> bool:
        return self.session.status is Status.ACTIVE


@dataclass(frozen=True, slots=True)
class RoomFilter:
    status: Status | None = None
    kind: str | None = None
    user_id: str | None = None
    active_since: int | None = None


_ROOM_COLUMNS = (
    *SESSION_COLUMNS,
    r.c.presence_interval_ms,
    r.c.room_timeout_ms,
    r.c.last_activity_at,
    r.c.inactive_at,
    r.c.closed_at,
)
# A room: its session and its row of ``rooms``.
ROOM_ROWS = t.join(r, sa.and_(r.c.tenant_id == t.c.tenant_id, r.c.id == t.c.id))


def _to_room(row: RowMapping) -> Room:
    return Room(
        session=row_to_session(row),
        presence_interval_ms=row["presence_interval_ms"],
        room_timeout_ms=row["room_timeout_ms"],
        last_activity_at=row["last_activity_at"],
        inactive_at=row["inactive_at"],
        closed_at=row["closed_at"],
    )


def _rooms_of(principal: Principal) -> sa.Select[Any]:
    return sa.select(*_ROOM_COLUMNS).select_from(ROOM_ROWS).where(visible_to(t, principal))


def get(conn: Connection, principal: Principal, room_id: str, *, lock: bool = False) -> Room | None:
    """The room, if the principal may see it. ``lock`` holds its row of ``rooms`` until the
    transaction ends (on PostgreSQL), so every write to a room takes its locks in one order."""
    stmt = _rooms_of(principal).where(t.c.id == room_id)
    if lock:
        stmt = stmt.with_for_update(of=r)
    row = conn.execute(stmt).mappings().first()
    return None if row is None else _to_room(row)


def create(
    tx: Transaction,
    principal: Principal,
    new: NewSession,
    *,
    presence_interval_ms: int,
    room_timeout_ms: int,
    now: int,
) -> tuple[bool, Room | None]:
    """Start the room's session and its row unless the id exists; returns (created, the room
    stored under that id, None when the id belongs to a session that is not a room)."""
    created, _ = session_store.start(tx, principal, new, now)
    if created:
        tx.conn.execute(
            r.insert().values(
                tenant_id=principal.tenant_id,
                id=new.id,
                presence_interval_ms=presence_interval_ms,
                room_timeout_ms=room_timeout_ms,
                last_activity_at=new.started_at,
                inactive_at=rules.inactive_at(new.started_at, room_timeout_ms),
                closed_at=None,
            )
        )
        tx.record(
            RoomCreated(
                tenant_id=principal.tenant_id,
                room_id=new.id,
                kind=new.kind,
                created_by=new.user_id,
                created_at=new.started_at,
            )
        )
    return created, get(tx.conn, principal, new.id)


def list_rooms(
    conn: Connection,
    principal: Principal,
    where: RoomFilter,
    *,
    now: int,
    limit: int,
    after: Cursor | None,
) -> list[Room]:
    """Rooms newest first. A room inactive but not yet closed by the cleanup counts as
    ``expired``, as reads show it."""
    stmt = _rooms_of(principal)
    inactive = sa.and_(IS_ACTIVE, r.c.inactive_at < now)
    if where.status is Status.ACTIVE:
        stmt = stmt.where(IS_ACTIVE, r.c.inactive_at >= now)
    elif where.status is Status.EXPIRED:
        stmt = stmt.where(sa.or_(status_is(Status.EXPIRED), inactive))
    elif where.status is not None:
        stmt = stmt.where(status_is(where.status))
    if where.kind is not None:
        stmt = stmt.where(t.c.kind == where.kind)
    if where.user_id is not None:
        a = t.alias("attended")
        stmt = stmt.where(
            sa.exists().where(
                a.c.tenant_id == t.c.tenant_id, a.c.room_id == t.c.id, a.c.user_id == where.user_id
            )
        )
    if where.active_since is not None:
        stmt = stmt.where(r.c.last_activity_at >= where.active_since)
    if after is not None:
        stmt = stmt.where(
            sa.or_(
                t.c.started_at < after.value,
                sa.and_(t.c.started_at == after.value, t.c.id < after.id),
            )
        )
    stmt = stmt.order_by(t.c.started_at.desc(), t.c.id.desc()).limit(limit)
    return [_to_room(row) for row in conn.execute(stmt).mappings()]


# Attendances


def attendances(
    conn: Connection, principal: Principal, room_id: str, user_id: str | None = None
) -> list[Session]:
    """Every attendance of the room (of one participant), by participant and start."""
    stmt = sa.select(*SESSION_COLUMNS).where(visible_to(t, principal), t.c.room_id == room_id)
    if user_id is not None:
        stmt = stmt.where(t.c.user_id == user_id)
    stmt = stmt.order_by(t.c.user_id, t.c.started_at, t.c.id)
    return [row_to_session(row) for row in conn.execute(stmt).mappings()]


def latest_attendance(
    conn: Connection, principal: Principal, room_id: str, user_id: str
) -> Session | None:
    stmt = (
        sa.select(*SESSION_COLUMNS)
        .where(visible_to(t, principal), t.c.room_id == room_id, t.c.user_id == user_id)
        .order_by(t.c.started_at.desc(), t.c.id.desc())
        .limit(1)
    )
    row = conn.execute(stmt).mappings().first()
    return None if row is None else row_to_session(row)


def join(
    tx: Transaction,
    principal: Principal,
    room: Room,
    user_id: str,
    *,
    attendance_id: str,
    at: int,
    now: int,
) -> None:
    """Start a new attendance of ``user_id`` at ``at``, timed by the room's presence interval."""
    timing = rules.participant_timing(room.presence_interval_ms)
    new = NewSession(
        id=attendance_id,
        user_id=user_id,
        kind=room.session.kind,
        label=room.session.label,
        attributes={},
        started_at=at,
        timeout_ms=timing.timeout_ms,
        grace_ms=timing.grace_ms,
        interval_ms=room.presence_interval_ms,
        start_digest=start_digest({"room_id": room.id, "user_id": user_id, "started_at": at}),
        room_id=room.id,
    )
    session_store.start(tx, principal, new, now)
    tx.record(
        ParticipantJoined(
            tenant_id=principal.tenant_id,
            room_id=room.id,
            user_id=user_id,
            kind=new.kind,
            attendance_id=new.id,
            joined_at=at,
        )
    )
    touch(tx.conn, principal, room.id, at)


def last_activity(conn: Connection, principal: Principal, room: Room) -> int:
    """``rules.last_activity`` of the room, its attendances read by one aggregate."""
    attended = conn.execute(
        sa.select(sa.func.max(LAST_SEEN_AT)).where(visible_to(t, principal), t.c.room_id == room.id)
    ).scalar()
    return rules.last_activity(room.last_activity_at, [] if attended is None else [attended])


def touch(conn: Connection, principal: Principal, room_id: str, at: int) -> None:
    """Participant activity at ``at``: moves the room's mark forward, never backward."""
    conn.execute(
        r.update()
        .where(
            visible_to(r, principal),
            r.c.id == room_id,
            r.c.inactive_at.is_not(None),
            r.c.last_activity_at < at,
        )
        .values(last_activity_at=at, inactive_at=at + r.c.room_timeout_ms)
    )


def hold_through_outage(conn: Connection, unavailable_since: int, at: int) -> int:
    """After the service's own outage, open rooms that went inactive during it, or would
    within a room timeout of its end, count the service's return as their last activity:
    participants could not report while nothing could be written (``storage/liveness.py``
    does the same for sessions). Rooms already inactive before it began stay as they were."""
    return int(
        conn.execute(
            r.update()
            .where(
                r.c.inactive_at.is_not(None),
                r.c.inactive_at >= unavailable_since,
                r.c.inactive_at < at + r.c.room_timeout_ms,
            )
            .values(last_activity_at=at, inactive_at=at + r.c.room_timeout_ms)
        ).rowcount
    )


def participant_left(ended: SessionEnded, reason: rules.LeaveReason) -> ParticipantLeft:
    assert ended.room_id is not None
    return ParticipantLeft(
        tenant_id=ended.tenant_id,
        room_id=ended.room_id,
        user_id=ended.user_id,
        kind=ended.kind,
        attendance_id=ended.session_id,
        reason=reason,
        left_at=ended.ended_at,
    )


def _ended_since(tx: Transaction, before: int) -> list[SessionEnded]:
    """The sessions closed by the kernel calls made since ``tx.events`` held ``before``."""
    return [e for e in tx.events[before:] if isinstance(e, SessionEnded)]


def leave(
    tx: Transaction, principal: Principal, room_id: str, attendance_id: str, *, at: int, now: int
) -> None:
    """End the attendance at ``at`` (a timeout if it had expired by then, as any end)."""
    before = len(tx.events)
    session_store.end(tx, principal, attendance_id, at=at, reason=EndReason.CLIENT, now=now)
    for ended in _ended_since(tx, before):
        if ended.reason is EndReason.CLIENT:
            tx.record(participant_left(ended, rules.LeaveReason.CLIENT))
            touch(tx.conn, principal, room_id, at)


# Ending rooms


def room_closed(ended: SessionEnded) -> RoomClosed:
    return RoomClosed(
        tenant_id=ended.tenant_id,
        room_id=ended.session_id,
        kind=ended.kind,
        status=ended.status,
        reason=ended.reason,
        ended_at=ended.ended_at,
    )


def end(tx: Transaction, principal: Principal, room_id: str, *, at: int, now: int) -> None:
    """End the room at ``at`` and every attendance in it, as a client's end of each."""
    before = len(tx.events)
    _, room = session_store.end(tx, principal, room_id, at=at, reason=EndReason.CLIENT, now=now)
    if room is None or room.ended_at is None:
        return
    tx.record(*(room_closed(e) for e in _ended_since(tx, before)))
    end_attendances(tx, principal, room_id, at=at, ended_at=room.ended_at)


def end_attendances(
    tx: Transaction, principal: Principal, room_id: str, *, at: int, ended_at: int
) -> None:
    """Every attendance still open in a room ended at ``at`` (its session's end,
    ``ended_at``) closes with it, and the room waits for no cleanup."""
    ids = open_attendances(tx.conn, principal, [room_id])
    # Those already expired by ``at`` time out, as in any end; the others end exactly.
    close_overdue(tx, principal, ids, at)
    ended = close_rows(
        tx,
        t.update()
        .where(visible_to(t, principal), t.c.id.in_(ids), IS_ACTIVE)
        .values(**exact_end_values(at, EndReason.CLIENT)),
    )
    tx.record(*(participant_left(e, rules.LeaveReason.ROOM_ENDED) for e in ended))
    mark_closed(tx.conn, principal, {room_id: ended_at})


def open_attendances(conn: Connection, principal: Principal, room_ids: Sequence[str]) -> list[str]:
    stmt = sa.select(t.c.id).where(visible_to(t, principal), t.c.room_id.in_(room_ids), IS_ACTIVE)
    return list(conn.execute(stmt).scalars())


def mark_closed(conn: Connection, principal: Principal, ended_at: dict[str, int]) -> None:
    """The rooms no longer wait for the cleanup; ``closed_at`` is when they ended."""
    if ended_at:
        conn.execute(
            r.update()
            .where(visible_to(r, principal), r.c.id == sa.bindparam("b_id"))
            .values(inactive_at=None, closed_at=sa.bindparam("b_closed")),
            [{"b_id": rid, "b_closed": at} for rid, at in sorted(ended_at.items())],
        )


def room_ids(conn: Connection, tenant_id: int, session_ids: Sequence[str]) -> set[str]:
    """Which of the tenant's sessions are rooms."""
    stmt = sa.select(r.c.id).where(r.c.tenant_id == tenant_id, r.c.id.in_(session_ids))
    return set(conn.execute(stmt).scalars())


def apply_policies(conn: Connection, tenant_id: int, policies: dict[str, Policy]) -> None:
    """Give the open rooms of the tenant, and their open attendances, the timing of their
    kind's policy (after the kernel gave every active session of the kind its own)."""
    open_rooms = (
        sa.select(t.c.kind)
        .select_from(ROOM_ROWS)
        .where(r.c.tenant_id == tenant_id, r.c.inactive_at.is_not(None))
        .distinct()
    )
    for kind in sorted(conn.execute(open_rooms).scalars()):
        policy = resolve_policy(policies, kind)
        of_kind = (
            sa.select(r.c.id)
            .select_from(ROOM_ROWS)
            .where(r.c.tenant_id == tenant_id, r.c.inactive_at.is_not(None), t.c.kind == kind)
            .correlate(None)
        )
        conn.execute(
            r.update()
            .where(r.c.tenant_id == tenant_id, r.c.id.in_(of_kind))
            .values(
                presence_interval_ms=policy.presence_interval_ms,
                room_timeout_ms=policy.room_timeout_ms,
                inactive_at=r.c.last_activity_at + policy.room_timeout_ms,
            )
        )
        _time_sessions(conn, tenant_id, of_kind, policy.presence_interval_ms)


def _time_sessions(
    conn: Connection,
    tenant_id: int,
    room_ids: sa.Select[Any] | Sequence[str],
    presence_interval_ms: int,
) -> None:
    """The timing of rooms of this presence interval, on their open sessions: the room's own
    (no timeout of its own) and its attendances'."""
    timing = rules.participant_timing(presence_interval_ms)
    of_tenant = t.c.tenant_id == tenant_id
    conn.execute(
        t.update()
        .where(of_tenant, IS_ACTIVE, t.c.id.in_(room_ids))
        .values(
            timeout_ms=rules.ROOM_SESSION_TIMEOUT_MS,
            grace_ms=timing.grace_ms,
            heartbeat_interval_ms=presence_interval_ms,
        )
    )
    conn.execute(
        t.update()
        .where(of_tenant, IS_ACTIVE, t.c.room_id.in_(room_ids))
        .values(
            timeout_ms=timing.timeout_ms,
            grace_ms=timing.grace_ms,
            heartbeat_interval_ms=presence_interval_ms,
        )
    )


def marked_inactive(conn: Connection, tenant_id: int, at: int) -> list[str]:
    """The tenant's open rooms whose mark says inactive by ``at``."""
    stmt = sa.select(r.c.id).where(
        r.c.tenant_id == tenant_id, r.c.inactive_at.is_not(None), r.c.inactive_at < at
    )
    return sorted(conn.execute(stmt).scalars())


def restore_timing(conn: Connection, tenant_id: int, room_ids: Sequence[str]) -> None:
    """Give these rooms' open sessions back the timing of the rooms' own rows: the policy
    they went quiet under, which the kernel has just replaced on every active session of
    their kind."""
    rows = conn.execute(
        sa.select(r.c.id, r.c.presence_interval_ms).where(
            r.c.tenant_id == tenant_id, r.c.id.in_(room_ids)
        )
    )
    for room_id, presence_interval_ms in rows:
        _time_sessions(conn, tenant_id, [room_id], presence_interval_ms)
