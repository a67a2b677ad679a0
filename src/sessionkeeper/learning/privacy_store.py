"""SQL of a user's erasure and export: every table that holds rows of one user.

A user's rows are: their sessions (attendances of rooms are sessions too), their activity
events, the outcomes of their sessions, the invitations they used, and the webhook messages
about their sessions (pending or sent: each names the user). The schedule of items
to review is derived from outcomes (``recap_rules.py``), so it goes with them. A room the
user created is shared with its other participants: its row stays, with the user id replaced
by :data:`ERASED_USER` and its attributes emptied. Rollups hold aggregates only (counts and
sums per day and kind) and stay as they are.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.ids import ERASED_USER
from sessionkeeper.events.tables import events as e
from sessionkeeper.learning.tables import session_outcomes as o
from sessionkeeper.rooms.tables import room_invite_uses as iu
from sessionkeeper.rooms.tables import rooms as r
from sessionkeeper.storage.session_filters import columns_as_of
from sessionkeeper.storage.tables import sessions as s
from sessionkeeper.webhooks.tables import webhook_deliveries as w


def _of_user(table: sa.Table, tenant_id: int, user_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.tenant_id == tenant_id, table.c.user_id == user_id)


def _rooms_of_user(tenant_id: int, user_id: str) -> sa.ColumnElement[bool]:
    """The user's rows that are rooms (referenced by ``rooms``): shared, so kept."""
    return sa.and_(
        _of_user(s, tenant_id, user_id),
        sa.exists().where(r.c.tenant_id == s.c.tenant_id, r.c.id == s.c.id),
    )


def _webhooks_naming(conn: Connection, tenant_id: int, user_id: str) -> sa.ColumnElement[bool]:
    """Webhook messages about the user's sessions. Their body is compact JSON with
    ``"user_id":<the id as JSON>`` (``webhooks/rules.py``); the match is exact and
    case-sensitive (LIKE is not, on SQLite), so no other user's message is taken."""
    needle = '"user_id":' + json.dumps(user_id, ensure_ascii=False) + ","
    found = sa.func.strpos if conn.dialect.name == "postgresql" else sa.func.instr
    return sa.and_(w.c.tenant_id == tenant_id, found(w.c.payload, needle) > 0)


def erase(conn: Connection, tenant_id: int, user_id: str) -> dict[str, int]:
    """Delete every row of the user; the counts per table."""
    counts = {
        "outcomes": conn.execute(sa.delete(o).where(_of_user(o, tenant_id, user_id))).rowcount,
        "events": conn.execute(sa.delete(e).where(_of_user(e, tenant_id, user_id))).rowcount,
        "invite_uses": conn.execute(sa.delete(iu).where(_of_user(iu, tenant_id, user_id))).rowcount,
        "webhook_messages": conn.execute(
            sa.delete(w).where(_webhooks_naming(conn, tenant_id, user_id))
        ).rowcount,
    }
    counts["rooms_kept"] = conn.execute(
        sa.update(s)
        .where(_rooms_of_user(tenant_id, user_id))
        .values(user_id=ERASED_USER, attributes={})
    ).rowcount
    counts["attendances"] = conn.execute(
        sa.delete(s).where(_of_user(s, tenant_id, user_id), s.c.room_id.is_not(None))
    ).rowcount
    counts["sessions"] = conn.execute(sa.delete(s).where(_of_user(s, tenant_id, user_id))).rowcount
    return counts


# The columns of a session the export leaves out: storage's own bookkeeping, not the user's
# data (when the sweep looks at it; how long it is held after the service's outage).
_BOOKKEEPING = frozenset({"seq", "tenant_id", "start_digest", "sweep_at", "held_until"})


def session_page(
    conn: Connection, tenant_id: int, user_id: str, after_seq: int, limit: int, now: int
) -> list[tuple[int, dict[str, Any]]]:
    """(seq, row) of the user's sessions with their outcomes, in storage order, each as it
    stands at ``now`` as every read shows it (an overdue session timed out at its estimated
    end, a presence source's beat in its ``last_seen_at``)."""
    stmt = (
        sa.select(
            s.c.seq,
            *(c for c in columns_as_of(now) if c.name not in _BOOKKEEPING),
            o.c.metrics,
            o.c.counters,
            o.c.tags,
            o.c.metadata,
        )
        .select_from(
            s.outerjoin(o, sa.and_(o.c.tenant_id == s.c.tenant_id, o.c.session_id == s.c.id))
        )
        .where(_of_user(s, tenant_id, user_id), s.c.seq > after_seq)
        .order_by(s.c.seq)
        .limit(limit)
    )
    return [(row["seq"], dict(row)) for row in conn.execute(stmt).mappings()]


def event_page(
    conn: Connection, tenant_id: int, user_id: str, after_seq: int, limit: int, now: int
) -> list[tuple[int, dict[str, Any]]]:
    stmt = (
        sa.select(e)
        .where(_of_user(e, tenant_id, user_id), e.c.seq > after_seq)
        .order_by(e.c.seq)
        .limit(limit)
    )
    return [(row["seq"], dict(row)) for row in conn.execute(stmt).mappings()]


# Every table with a user_id column that erase() covers, for the test that nothing is left.
USER_TABLES = (s, e, o, iu, w)
