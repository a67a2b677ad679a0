"""A presence snapshot is one heartbeat of its source, not one of each session it holds.

Applying a snapshot used to rewrite every session the source still held open (thousands of
rows for a snapshot that changed a few). Now the snapshot's time is written once, on the source
row (``presence_sources.beat_at``), and a session's liveness is read through it:
:data:`LAST_SEEN_AT` and :data:`EXPIRES_AT` are the session's columns with the source's beat
applied, by the heartbeat rule, when it is newer than the session's own last beat.

Why that is exact: a snapshot closes every session of its source that was overdue at its
time before it matches, and ends every session it no longer lists. So each session still
open under the source at its beat was alive then and listed, which is what a heartbeat at
that moment requires. A session started later has its own beat after the source's.

Every rule and every read uses these two expressions instead of the stored columns. Every
statement that changes what the rule depends on (a close, an outage hold, a new policy) also
writes them into the row (:func:`written_through`), so a closed session's columns are final.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from sessionkeeper.storage.dialect import greatest
from sessionkeeper.storage.statuses import IS_ACTIVE
from sessionkeeper.storage.tables import presence_sources as p
from sessionkeeper.storage.tables import sessions as t

Moment = int | sa.ColumnElement[int]


def deadline_after(at: Moment | sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """A timeout after a beat at ``at``, never back before a deadline held after an outage
    (``lifecycle._extend``)."""
    return greatest(sa.func.coalesce(t.c.held_until, 0), at + t.c.timeout_ms)


def through_beat(
    beat: sa.ColumnElement[Any], within: Callable[[Any], Any] = lambda value: value
) -> tuple[Any, Any]:
    """``(last_seen_at, expires_at)`` of a session with ``beat``, its source's newest beat,
    applied by the heartbeat rule; ``within`` wraps each use of the beat (in a lookup of the
    source's row, below). A CASE evaluates in order: a session without a source (most) or a
    closed one never looks at the beat. Each looks at it once: the rules nest these several
    levels deep in one statement, and every copy is one more lookup per row."""

    def through(stored: sa.ColumnElement[Any], applied: Any) -> Any:
        return sa.case(
            (t.c.source.is_(None), stored),
            (sa.not_(IS_ACTIVE), stored),
            # NULL without a beat, or (the deadline) when the session's own beat is newer.
            else_=sa.func.coalesce(within(applied), stored),
        )

    last_seen = through(t.c.last_seen_at, greatest(t.c.last_seen_at, beat))
    expires = through(t.c.expires_at, sa.case((beat > t.c.last_seen_at, deadline_after(beat))))
    return last_seen, expires


def _looked_up(value: Any) -> Any:
    """``value`` (written with the source's ``beat_at``) from the session's source row."""
    return (
        sa.select(value)
        .where(p.c.tenant_id == t.c.tenant_id, p.c.source == t.c.source)
        .scalar_subquery()
    )


LAST_SEEN_AT, EXPIRES_AT = through_beat(p.c.beat_at, _looked_up)

# The stored columns read through the source, by name.
READ_THROUGH: dict[str, sa.ColumnElement[int]] = {
    "last_seen_at": LAST_SEEN_AT,
    "expires_at": EXPIRES_AT,
}


def read_column(name: str) -> sa.ColumnElement[Any]:
    """The session column ``name`` as the rules read it."""
    return READ_THROUGH.get(name, t.c[name])


def written_through() -> dict[str, Any]:
    """Values that write the source's beat into the row: for every statement that closes a
    session or changes its timeout or held deadline, after which the row must stand alone."""
    return dict(READ_THROUGH)


def not_overdue_at(now: Moment | sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """Of an active session: not silent past its deadline at ``now`` (the complement of
    ``sessions.overdue_at`` among active sessions). A write that finds a session overdue
    leaves it to the rules, which take it as the sweep would have closed it: reads already
    show it timed out, and the result must not depend on whether the sweep came first."""
    not_overdue: sa.ColumnElement[bool] = now <= EXPIRES_AT
    return not_overdue
