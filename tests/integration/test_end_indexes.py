"""The indexes of ends and durations hold closed sessions only, and every query of them can
still read them: the listings ordered by end or duration, and ends in a window."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.listing import Cursor, SessionFilter, SessionOrder, SortKey
from sessionkeeper.domain.principal import Principal
from sessionkeeper.rollups.sessions_store import _spans
from sessionkeeper.storage import session_filters, session_inserts, session_queries
from sessionkeeper.storage import sessions as store
from sessionkeeper.storage.database import Database
from sessionkeeper.storage.sessions import SESSION_COLUMNS
from tests.integration.test_storage import new_session, tenant
from tests.support import T0

ENDED = "ix_sessions_tenant_ended"
DURATION = "ix_sessions_tenant_duration"


SESSIONS = 3_000
CLOSED = [f"s{i}" for i in range(SESSIONS) if i % 3]


def _with_sessions(database: Database) -> Principal:
    """A tenant with open sessions and twice as many closed ones, each ended at its own
    time: enough rows that PostgreSQL's planner prices an index by its order and range."""
    principal = tenant(database)
    news = [new_session(f"s{i}", at=T0 + i) for i in range(SESSIONS)]
    database.writer.run_sync(lambda tx: session_inserts.insert_many(tx, principal, news))
    # Ended "at T0", before most starts: each ends at its own last beat, its start.
    database.writer.run_sync(
        lambda tx: store.end_many(tx, principal, CLOSED, at=T0, reason=EndReason.CLIENT)
    )
    return principal


def _plan(database: Database, stmt: sa.Select) -> str:
    """The plan the database can take for ``stmt``; on PostgreSQL with sequential scans
    priced out, so that a small table answers whether the index is usable at all."""
    with database.write_engine.connect() as conn:
        query = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            return " ".join(str(r) for r in conn.execute(sa.text("EXPLAIN QUERY PLAN " + query)))
        conn.execute(sa.text("ANALYZE sessions"))
        conn.execute(sa.text("SET enable_seqscan = off"))
        return " ".join(str(r) for r in conn.execute(sa.text("EXPLAIN " + query)))


def _definitions(database: Database) -> dict[str, str]:
    with database.write_engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        else:
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sessions'"
        return {name: definition for name, definition in conn.execute(sa.text(query))}


def test_the_indexes_of_ends_and_durations_leave_open_sessions_out(database: Database) -> None:
    definitions = _definitions(database)
    for name in (ENDED, DURATION):
        assert "ended_at IS NOT NULL" in definitions[name], definitions[name]


@pytest.mark.parametrize(
    "order",
    [
        SessionOrder.ENDED_LATEST,
        SessionOrder.ENDED_EARLIEST,
        SessionOrder.LONGEST,
        SessionOrder.SHORTEST,
    ],
)
def test_listings_by_end_or_duration_read_their_index(
    database: Database, order: SessionOrder
) -> None:
    principal = _with_sessions(database)
    stmt = session_queries.list_statement(
        principal, SessionFilter(), limit=50, after=None, now=T0 + 2_000, order=order
    )
    expected = DURATION if order.key is SortKey.DURATION else ENDED
    assert expected in _plan(database, stmt)
    listed = database.reader.run_sync(
        lambda conn: session_queries.list_sessions(
            conn, principal, SessionFilter(), limit=50, after=None, now=T0 + 2_000, order=order
        )
    )
    assert len(listed) == 50
    assert set(s.id for s in listed) <= set(CLOSED)


def test_ends_in_a_window_are_found_through_the_index_of_ends(database: Database) -> None:
    principal = _with_sessions(database)
    window = SessionFilter(ended_after=T0 + 100, ended_before=T0 + 130)
    conditions = session_filters.conditions(principal, window, T0 + 2_000)
    stmt = sa.select(*SESSION_COLUMNS).where(*conditions)
    if database.write_engine.dialect.name == "postgresql":
        # PostgreSQL ORs the range of ends with the sweep's index of overdue sessions; SQLite
        # reads an OR of two indexes under a tenant condition through a tenant index instead,
        # as it did before ends left open sessions out.
        assert ENDED in _plan(database, stmt)
    ended = database.reader.run_sync(lambda conn: conn.execute(stmt).all())
    assert sorted(row.id for row in ended) == sorted(
        f"s{i}" for i in range(100, 130) if f"s{i}" in CLOSED
    )


def test_a_late_page_by_duration_starts_the_index_at_its_cursor(database: Database) -> None:
    """Past the last row: the page reads from the cursor's duration on, not the tenant's
    whole index (PostgreSQL keeps no statistics of a partial index's expression)."""
    principal = _with_sessions(database)
    last = Cursor(value=10**9, id="s~")
    stmt = session_queries.list_statement(
        principal,
        SessionFilter(),
        limit=50,
        after=last,
        now=T0 + 2_000,
        order=SessionOrder.SHORTEST,
    )
    plan = _plan(database, stmt)
    assert DURATION in plan
    # The duration bounds the index search: PostgreSQL names the expression, SQLite "<expr>".
    assert re.search(r"ended_at - (sessions\.)?started_at\)* *>|<expr>>", plan), plan


def test_the_days_sessions_read_open_and_recently_ended_sessions_by_index(
    database: Database,
) -> None:
    """A rollup of a day reads the sessions open now and those ended since the day began
    through indexes, whatever the longest session of the tenant: not every session started
    within that span. (SQLite reads the span of starts, as it always did.)"""
    principal = _with_sessions(database)
    window = (T0 + 2_900, T0 + 2_900 + 86_400_000)
    longest = 90 * 86_400_000
    spans = _spans(principal.tenant_id, window, longest, T0 + 3_000, None, True)
    stmt = sa.select(sa.func.count()).select_from(spans)
    if database.write_engine.dialect.name == "postgresql":
        assert ENDED in _plan(database, stmt)
    with database.write_engine.connect() as conn:
        counted = conn.execute(stmt).scalar_one()
    open_ones = SESSIONS - len(CLOSED)
    assert counted == open_ones + sum(1 for i in range(2_900, SESSIONS) if f"s{i}" in CLOSED)
