"""The heartbeat rule of ``lifecycle.heartbeat`` in SQL: when a beat moves a session, and
what it sets. Every statement that applies beats is built from these, as a :class:`Beats`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from sessionkeeper.storage.source_beats import EXPIRES_AT, LAST_SEEN_AT, Moment, deadline_after
from sessionkeeper.storage.statuses import IS_ACTIVE
from sessionkeeper.storage.tables import sessions as t

Params = dict[str, Any] | Sequence[dict[str, Any]] | None


def heartbeat_condition(at: Moment) -> sa.ColumnElement[bool]:
    """Active, ``at`` later than the last beat, and the session still alive at ``at``
    (its source's beat included: ``storage/source_beats.py``)."""
    return sa.and_(IS_ACTIVE, at > LAST_SEEN_AT, at <= EXPIRES_AT)


def heartbeat_values(at: Moment) -> dict[str, Any]:
    """``last_seen_at`` moves to ``at``; the deadline to a timeout after it, never back before
    the one held after an outage (``lifecycle._extend``). ``sweep_at``: see
    :func:`sweep_moves`."""
    deadline = deadline_after(at)
    sweep_at = sa.case((sweep_moves(at, deadline), deadline), else_=t.c.sweep_at)
    return {"last_seen_at": at, "expires_at": deadline, "sweep_at": sweep_at}


def sweep_moves(at: Moment, deadline: Moment) -> sa.ColumnElement[bool]:
    """Whether a beat at ``at`` with this ``deadline`` moves ``sweep_at`` (in the sweep's and
    the live counts' indexes) to the deadline: only when it would fall due within two
    intervals (about once a timeout for a client that beats on schedule; two, so that a beat
    a little late still finds it ahead), or to keep it no later than the deadline (a shortened
    timeout). Every other beat changes no indexed column."""
    return sa.or_(t.c.sweep_at < at + 2 * t.c.heartbeat_interval_ms, t.c.sweep_at > deadline)


# The beat with sweep_at in its SET (PostgreSQL), without it (SQLite), and SQLite's second
# statement that moves sweep_at where it must, for an ``executemany`` (which has no RETURNING
# on SQLite).
_Form = Literal["inline", "apart", "catch_up"]

# On SQLite the beat returns, of each row it moved, whether ``sweep_at`` must follow (judged on
# the row as the beat left it), so that the catch-up writes those rows alone, by their key.
_SEQ = t.c.seq.label("beat_seq")
_SWEEP_DUE = sweep_moves(t.c.last_seen_at, t.c.expires_at).label("beat_sweep_due")
_CATCH_UP_ROWS = (
    t.update()
    .where(t.c.seq.in_(sa.bindparam("beat_seqs", expanding=True)))
    .values(sweep_at=t.c.expires_at)
)


def _catch_up(conn: Connection, moved: Sequence[Any]) -> None:
    """Move ``sweep_at`` to the deadline on the rows whose RETURNING said it must."""
    # By position (the last two columns, as ``Beats.rows`` asks for them): a Row's attribute
    # access costs more than the rest of this loop over a thousand rows.
    due = [row[-2] for row in moved if row[-1]]
    if due:
        conn.execute(_CATCH_UP_ROWS, {"beat_seqs": due})


def _sweep_in_place(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class Beats:
    """A heartbeat UPDATE of the rows ``which`` selects, beaten at ``at``, as each database
    wants it.

    PostgreSQL compares an indexed column's old and new values: a beat that leaves
    ``sweep_at`` as it was is a HOT update although ``sweep_at`` is in its SET. SQLite
    rewrites the index entries of every column its SET names, whatever the value: with
    ``sweep_at`` in the SET, 1,000 beats wrote 1,942 pages to the WAL instead of 916, and
    took twice as long with their commit. So on SQLite the beat leaves ``sweep_at`` out and
    returns, for each row it moved, whether :func:`sweep_moves` holds on the row as the beat
    left it (``at`` is then ``last_seen_at``, the deadline ``expires_at``): the same decision.
    A second statement then moves ``sweep_at`` on those rows alone, by their key, writing
    the index only there, as PostgreSQL does. (An ``executemany`` has no RETURNING on
    SQLite: there the second statement judges every row its beats name; on a row they did
    not move that can only bring ``sweep_at`` to the row's own deadline, where the sweep
    looks anyway.)"""

    which: sa.ColumnElement[bool]
    at: Moment
    # Statements are built on first use, for the database that asks: one of them is
    # built per call on the path of a single heartbeat.
    _built: dict[_Form, sa.Update] = field(default_factory=dict)
    # With their RETURNING, by the columns asked for: a statement object used again keeps
    # its cache key, which SQLAlchemy otherwise derives anew on every execution (a tenth of
    # the writer's time on a group of heartbeats).
    _returning: dict[tuple[_Form, tuple[sa.ColumnElement[Any], ...]], sa.Update] = field(
        default_factory=dict
    )

    def _statement(self, name: _Form) -> sa.Update:
        built = self._built.get(name)
        if built is None:
            built = self._built[name] = self._build(name)
        return built

    def _build(self, name: _Form) -> sa.Update:
        if name == "catch_up":
            return (
                t.update()
                .where(
                    self.which,
                    IS_ACTIVE,
                    sweep_moves(t.c.last_seen_at, t.c.expires_at),
                )
                .values(sweep_at=t.c.expires_at)
            )
        values = heartbeat_values(self.at)
        if name == "apart":
            del values["sweep_at"]
        return t.update().where(self.which, heartbeat_condition(self.at)).values(**values)

    def count(self, conn: Connection, params: Params = None) -> int:
        """Apply the beats; how many rows they moved."""
        if _sweep_in_place(conn):
            return conn.execute(self._statement("inline"), params).rowcount
        if isinstance(params, dict) or params is None:
            return len(self.rows(conn, (), params))
        moved = conn.execute(self._statement("apart"), params).rowcount
        conn.execute(self._statement("catch_up"), params)
        return moved

    def rows(
        self,
        conn: Connection,
        columns: Sequence[sa.ColumnElement[Any]],
        params: dict[str, Any] | None = None,
    ) -> Sequence[Row[Any]]:
        """Apply the beats; ``columns`` of the rows they moved, as the beats left them (on
        SQLite with two more, ``beat_seq`` and ``beat_sweep_due``)."""
        if _sweep_in_place(conn):
            return conn.execute(self._returning_of("inline", tuple(columns)), params).all()
        beat = self._returning_of("apart", (*columns, _SEQ, _SWEEP_DUE))
        moved = conn.execute(beat, params).all()
        _catch_up(conn, moved)
        return moved

    def _returning_of(self, name: _Form, columns: tuple[sa.ColumnElement[Any], ...]) -> sa.Update:
        key = (name, columns)
        built = self._returning.get(key)
        if built is None:
            built = self._returning[key] = self._statement(name).returning(*columns)
        return built
