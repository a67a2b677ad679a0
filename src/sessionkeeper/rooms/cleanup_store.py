"""SQL of the cleanup: closing inactive rooms, found through the index on ``inactive_at``,
and purging closed rooms past their retention, found through the index on ``closed_at``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.principal import Principal, operator
from sessionkeeper.rooms import rules, store
from sessionkeeper.rooms.events import RoomClosed
from sessionkeeper.rooms.store import (
    ROOM_ROWS,
    Room,
    mark_closed,
    open_attendances,
    participant_left,
    room_closed,
)
from sessionkeeper.rooms.tables import room_cleanup_counts as counts
from sessionkeeper.rooms.tables import room_invite_uses, room_invites
from sessionkeeper.rooms.tables import rooms as r
from sessionkeeper.storage.heartbeat_rule import Beats
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.sessions import ACTIVE, close_overdue, close_rows, timeout_values
from sessionkeeper.storage.statuses import IS_ACTIVE
from sessionkeeper.storage.tables import sessions as t
from sessionkeeper.storage.transaction import Transaction

# Rooms one statement of the cleanup (or of the purge) takes on: bounded transactions.
CHUNK = 1000


def tenant_operator(tenant_id: int) -> Principal:
    """The cleanup acts on every tenant's rooms as that tenant's operator."""
    return operator(tenant_id, f"tenant {tenant_id}")


def _by_tenant(rows: Iterable[tuple[int, str]]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for tenant_id, room_id in rows:
        found.setdefault(tenant_id, []).append(room_id)
    return found


def inactive_rooms_query(
    now: int, limit: int = CHUNK, tenant_id: int | None = None
) -> sa.Select[int, str]:
    """Up to ``limit`` open rooms of any tenant (or of ``tenant_id``) marked inactive by
    ``now``, read through the index on ``inactive_at``: its cost follows the inactive rooms,
    not all rooms. On PostgreSQL their rows stay locked until the transaction ends and rows
    another process holds are skipped, so processes cleaning at once share the work."""
    query = sa.select(r.c.tenant_id, r.c.id).where(r.c.inactive_at < now)
    if tenant_id is not None:
        query = query.where(r.c.tenant_id == tenant_id)
    return query.order_by(r.c.inactive_at).limit(limit).with_for_update(skip_locked=True)


def inactive_rooms(
    conn: Connection, now: int, limit: int = CHUNK, tenant_id: int | None = None
) -> dict[int, list[str]]:
    """The rooms of :func:`inactive_rooms_query`, by tenant."""
    return _by_tenant(conn.execute(inactive_rooms_query(now, limit, tenant_id)).all())


def current_room(tx: Transaction, principal: Principal, room_id: str, now: int) -> Room | None:
    """The room, locked for this write, closed first if it was inactive at ``now``."""
    room = store.get(tx.conn, principal, room_id, lock=True)
    if room is not None and room.is_open and (room.inactive_at or 0) < now:
        close_inactive(tx, principal, [room_id], now)
        room = store.get(tx.conn, principal, room_id)
    return room


def cleanup_values(now: int) -> dict[str, Any]:
    """Closed by the cleanup: the kernel's estimated end, the cleanup's status and reason
    (``rules.close_by_cleanup``)."""
    return {
        **timeout_values(now),
        "status": Status.EXPIRED.value,
        "end_reason": EndReason.CLEANUP.value,
    }


def close_inactive(
    tx: Transaction, principal: Principal, room_ids: Sequence[str], now: int
) -> list[RoomClosed]:
    """Close, by the cleanup rule, those of the rooms that are inactive at ``now``.

    The room's activity is checked against its attendances first: one heartbeated through
    the sessions API kept it alive without moving its mark, which is then moved instead. A
    room whose session was closed otherwise (ended through the sessions API) is tidied up.
    Open attendances of the rooms closed are closed too (``rules.close_with_room``).
    """
    if not room_ids:
        return []
    a = t.alias("attended")
    attended = (
        sa.select(sa.func.max(a.c.last_seen_at))
        .where(a.c.tenant_id == t.c.tenant_id, a.c.room_id == t.c.id)
        .scalar_subquery()
    )
    rows = tx.conn.execute(
        sa.select(
            t.c.id,
            t.c.status,
            t.c.ended_at,
            r.c.room_timeout_ms,
            r.c.last_activity_at,
            attended.label("attended"),
        )
        .select_from(ROOM_ROWS)
        .where(visible_to(t, principal), t.c.id.in_(room_ids), r.c.inactive_at.is_not(None))
        .order_by(t.c.id)
    ).all()
    awake: dict[str, int] = {}
    inactive: dict[str, int] = {}
    ended_before: dict[str, int] = {}
    for row in rows:
        seen = [] if row.attended is None else [row.attended]
        activity = rules.last_activity(row.last_activity_at, seen)
        if row.status != ACTIVE:
            ended_before[row.id] = row.ended_at
        elif rules.is_inactive(activity, row.room_timeout_ms, now):
            inactive[row.id] = activity
        else:
            awake[row.id] = activity
    if awake:
        tx.conn.execute(
            r.update()
            .where(visible_to(r, principal), r.c.id == sa.bindparam("b_id"))
            .values(
                last_activity_at=sa.bindparam("b_at"),
                inactive_at=sa.bindparam("b_at") + r.c.room_timeout_ms,
            ),
            [{"b_id": rid, "b_at": at} for rid, at in awake.items()],
        )
    closed = _close_by_cleanup(tx, principal, inactive, now)
    finished = {**ended_before, **{e.room_id: e.ended_at for e in closed}}
    mark_closed(tx.conn, principal, finished)
    close_attendances(tx, principal, list(finished), now)
    return closed


def _close_by_cleanup(
    tx: Transaction, principal: Principal, activity: dict[str, int], now: int
) -> list[RoomClosed]:
    if not activity:
        return []
    at = sa.bindparam("b_at", type_=sa.BigInteger)
    # The room's session is brought up to its latest activity, as a heartbeat would, so that
    # the kernel's estimated end counts from there.
    Beats(sa.and_(visible_to(t, principal), t.c.id == sa.bindparam("b_id")), at).count(
        tx.conn, [{"b_id": rid, "b_at": last} for rid, last in activity.items()]
    )
    ended = close_rows(
        tx,
        t.update()
        .where(visible_to(t, principal), t.c.id.in_(list(activity)), IS_ACTIVE)
        .values(**cleanup_values(now)),
    )
    closed = [room_closed(e) for e in ended]
    tx.record(*closed)
    return closed


def close_attendances(
    tx: Transaction, principal: Principal, room_ids: Sequence[str], now: int
) -> None:
    """Close the open attendances of closed rooms: overdue ones as the sweep would, the
    others at their own estimated end (``rules.close_with_room``)."""
    if not room_ids:
        return
    ids = open_attendances(tx.conn, principal, room_ids)
    if not ids:
        return
    close_overdue(tx, principal, ids, now)
    ended = close_rows(
        tx,
        t.update()
        .where(visible_to(t, principal), t.c.id.in_(ids), IS_ACTIVE)
        .values(**cleanup_values(now)),
    )
    tx.record(*(participant_left(e, rules.LeaveReason.ROOM_ENDED) for e in ended))


def purge_chunk(tx: Transaction, before: int, limit: int = CHUNK) -> dict[int, int]:
    """Delete up to ``limit`` rooms closed before ``before``, with their attendances and
    invitations; returns how many rooms per tenant."""
    stmt = (
        sa.select(r.c.tenant_id, r.c.id)
        .where(r.c.closed_at < before)
        .order_by(r.c.closed_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    purged: dict[int, int] = {}
    for tenant_id, ids in _by_tenant(tx.conn.execute(stmt).all()).items():
        invites = sa.select(room_invites.c.id).where(
            room_invites.c.tenant_id == tenant_id, room_invites.c.room_id.in_(ids)
        )
        for delete in (
            room_invite_uses.delete().where(
                room_invite_uses.c.tenant_id == tenant_id,
                room_invite_uses.c.invite_id.in_(invites),
            ),
            room_invites.delete().where(
                room_invites.c.tenant_id == tenant_id, room_invites.c.room_id.in_(ids)
            ),
            r.delete().where(r.c.tenant_id == tenant_id, r.c.id.in_(ids)),
            t.delete().where(t.c.tenant_id == tenant_id, t.c.room_id.in_(ids)),
            t.delete().where(t.c.tenant_id == tenant_id, t.c.id.in_(ids)),
        ):
            tx.conn.execute(delete)
        purged[tenant_id] = len(ids)
    return purged


def record_counts(
    conn: Connection,
    started_at: int,
    closed: dict[int, int],
    purged: dict[int, int],
    *,
    kept: int | None = None,
) -> None:
    """What the run that started at ``started_at`` did for each tenant: it replaces what
    the runs before did, so a tenant it did nothing for reads zeros; but those of the run
    that started at ``kept``, which tenants see until they are shown this one."""
    stale = counts.delete()
    if kept is not None:
        stale = stale.where(counts.c.run_started_at != kept)
    conn.execute(stale)
    rows = [
        {
            "tenant_id": tenant_id,
            "run_started_at": started_at,
            "closed": closed.get(tenant_id, 0),
            "purged": purged.get(tenant_id, 0),
        }
        for tenant_id in sorted(closed.keys() | purged.keys())
    ]
    if rows:
        conn.execute(counts.insert(), rows)


def counts_of(conn: Connection, principal: Principal, started_at: int) -> tuple[int, int]:
    """(closed, purged) for the principal's tenant in the run that started at ``started_at``."""
    row = conn.execute(
        sa.select(counts.c.closed, counts.c.purged).where(
            visible_to(counts, principal), counts.c.run_started_at == started_at
        )
    ).first()
    return (0, 0) if row is None else (row.closed, row.purged)
