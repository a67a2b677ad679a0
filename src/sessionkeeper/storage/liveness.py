"""SQL for the server's own liveness: when some server process last proved it could write.

Every process moves ``alive_at`` forward every few seconds (and on a clean shutdown). A
process that starts, or that reaches the database again after failing to, *recovers*: the
time between ``alive_at`` and now is time the service itself was unavailable (every process
down, or the database unreachable), which must not count as silence of the clients. Every
active session whose deadline fell inside that window — or would fall before a full timeout
has passed since the service came back — gets a full timeout from the moment it came back:
a client that kept retrying through the outage has that long to be heard again, however
long its retries wait between attempts. The grant is kept as ``held_until``: the beats the
client made during the outage, delivered afterwards, extend from it and never take it back.
A client that died during the outage still ends at its estimated end
(``last_seen_at + grace``, which the move does not change), only later.
The recovery runs inside the writer's first transaction after the outage, before any other
write of that transaction, and under a row lock, so two recovering processes move the
deadlines once.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.events import ServiceResumed
from sessionkeeper.domain.principal import SERVER_WIDE
from sessionkeeper.storage.dialect import upsert
from sessionkeeper.storage.source_beats import EXPIRES_AT, LAST_SEEN_AT
from sessionkeeper.storage.statuses import IS_ACTIVE
from sessionkeeper.storage.tables import server_liveness as liveness
from sessionkeeper.storage.tables import sessions as t
from sessionkeeper.storage.transaction import Transaction

NAME = "server"


def note_alive(conn: Connection, now: int) -> None:
    """Move ``alive_at`` forward to ``now`` (never backward: processes' clocks differ)."""
    values = {"name": NAME, "alive_at": now}
    conn.execute(upsert(conn, liveness, values, keys=["name"], where=liveness.c.alive_at < now))


def alive_at(conn: Connection) -> int | None:
    return conn.execute(
        sa.select(liveness.c.alive_at).where(liveness.c.name == NAME)
    ).scalar_one_or_none()


def recover(tx: Transaction, now: int, *, threshold_ms: int) -> tuple[int, int]:
    """After an unavailable window longer than ``threshold_ms``, give the sessions whose
    deadline fell inside it, or falls within a timeout from now, a full timeout from now.

    Returns (the window's length in ms, or 0 when there was none; sessions moved).
    """
    last = tx.conn.execute(
        sa.select(liveness.c.alive_at).where(liveness.c.name == NAME).with_for_update()
    ).scalar_one_or_none()
    gap = 0 if last is None else now - last
    moved = 0
    if last is not None and gap > threshold_ms:
        heard_again_by = now + t.c.timeout_ms
        moved = tx.conn.execute(
            t.update()
            .where(
                IS_ACTIVE,
                t.c.sweep_at < heard_again_by,  # the index: sweep_at <= expires_at
                last <= EXPIRES_AT,
                heard_again_by > EXPIRES_AT,
            )
            .values(
                last_seen_at=LAST_SEEN_AT,  # a source's beat, written into the row
                expires_at=heard_again_by,
                held_until=heard_again_by,
                sweep_at=heard_again_by,
            )
        ).rowcount
    if last is not None and gap > threshold_ms:
        tx.record(ServiceResumed(tenant_id=SERVER_WIDE, unavailable_since=last, at=now))
    note_alive(tx.conn, now)
    return (gap if gap > threshold_ms else 0), moved
