"""Storage on every backend: migrations, the rules in SQL, the sweep's index, concurrency."""

from __future__ import annotations

import asyncio
import threading
import time
from functools import partial

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings

from sessionkeeper.domain import lifecycle as lc
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.principal import Principal, operator
from sessionkeeper.domain.session import NewSession
from sessionkeeper.storage import heartbeats, session_inserts, sweep
from sessionkeeper.storage import sessions as store
from sessionkeeper.storage import tenants as tenant_store
from sessionkeeper.storage.database import Database
from sessionkeeper.storage.tables import metadata
from sessionkeeper.storage.tables import sessions as sessions_table
from sessionkeeper.storage.transaction import Transaction
from tests.integration.lifecycle_script import apply, scripts
from tests.support import T0, settings_for

TIMEOUT, GRACE = 60_000, 10_000


def tenant(db: Database, name: str = "t") -> Principal:
    found = db.writer.run_sync(lambda tx: tenant_store.create_tenant(tx.conn, name, T0))
    assert found is not None
    return operator(found.id, name)


def new_session(sid: str, at: int = T0, user: str = "u", kind: str = "game") -> NewSession:
    return NewSession(
        id=sid,
        user_id=user,
        kind=kind,
        label=None,
        attributes={},
        started_at=at,
        timeout_ms=TIMEOUT,
        grace_ms=GRACE,
        start_digest=sid,
    )


def test_migrations_equal_the_table_definitions(database: Database) -> None:
    with database.write_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert database.is_migrated()


def test_migrate_twice_is_harmless(database: Database) -> None:
    database.migrate()
    assert database.is_migrated()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=scripts())
def test_sql_carries_out_the_same_rules_as_the_domain(database: Database, script) -> None:
    """Random scripts of beats, batches of late beats, ends, sweeps and waits: SQL and the
    domain end in the same state, amendments by late evidence included."""
    found = database.reader.run_sync(lambda c: tenant_store.get_tenant(c, "prop"))
    tid = operator(found.id, "prop") if found else tenant(database, "prop")
    sid = f"s{abs(hash(repr(script)))}"
    database.writer.run_sync(lambda c: store.start(c, tid, new_session(sid), T0))
    model = lc.start(T0, timeout_ms=TIMEOUT, grace_ms=GRACE)
    now = T0
    for step in script:
        model, now = apply(database, tid, sid, model, now, step)
    stored = database.reader.run_sync(lambda c: store.get(c, tid, sid))
    assert stored is not None
    assert stored.lifecycle == model, script


def test_sweep_closes_only_overdue_at_estimated_end(database: Database) -> None:
    tid = tenant(database)
    sessions = [new_session(f"s{i}", at=T0 + i * 1_000) for i in range(20)]
    database.writer.run_sync(lambda c: session_inserts.insert_many(c, tid, sessions))
    now = T0 + TIMEOUT + 9_500  # s0..s9 expired (expires_at < now)
    chunk = database.writer.run_sync(lambda c: sweep.sweep_chunk(c, now))
    assert len(chunk) == 10
    for i in range(20):
        s = database.reader.run_sync(lambda c, i=i: store.get(c, tid, f"s{i}"))
        assert s is not None
        if i < 10:
            assert s.status is Status.TIMED_OUT and s.estimated
            assert s.ended_at == T0 + i * 1_000 + GRACE
        else:
            assert s.status is Status.ACTIVE


def test_sweep_chunks_through_a_large_backlog(database: Database) -> None:
    tid = tenant(database)
    n = sweep.SWEEP_CHUNK + 123
    database.writer.run_sync(
        lambda c: session_inserts.insert_many(c, tid, [new_session(f"b{i}") for i in range(n)])
    )
    first = database.writer.run_sync(lambda c: sweep.sweep_chunk(c, T0 + TIMEOUT + 1))
    second = database.writer.run_sync(lambda c: sweep.sweep_chunk(c, T0 + TIMEOUT + 1))
    assert (len(first), len(second)) == (sweep.SWEEP_CHUNK, 123)


def test_sweep_reads_the_active_sweep_index(database: Database) -> None:
    tid = tenant(database)
    database.writer.run_sync(
        lambda c: session_inserts.insert_many(c, tid, [new_session(f"i{i}") for i in range(200)])
    )
    overdue = sa.select(sessions_table.c.seq).where(store.overdue_at(T0))
    with database.write_engine.connect() as conn:
        query = str(overdue.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(r) for r in conn.execute(sa.text("EXPLAIN QUERY PLAN " + query)))
        else:
            conn.execute(sa.text("ANALYZE sessions"))
            conn.execute(sa.text("SET enable_seqscan = off"))
            plan = " ".join(str(r) for r in conn.execute(sa.text("EXPLAIN " + query)))
    assert "ix_sessions_active_sweep" in plan


def test_two_writers_on_one_database_agree(db_url: str) -> None:
    """Two writers (as two server processes would) start the same ids, beat and sweep at once."""
    first, second = Database(settings_for(db_url)), Database(settings_for(db_url))
    first.migrate()
    tid = tenant(first)
    errors: list[BaseException] = []
    created: list[bool] = []
    lock = threading.Lock()

    def work(db: Database, worker: int) -> None:
        try:
            for i in range(150):
                made, _ = db.writer.run_sync(
                    lambda c, i=i: store.start(c, tid, new_session(f"c{i}"), T0)
                )
                with lock:
                    created.append(made)
                at = T0 + 1_000 + worker
                db.writer.run_sync(
                    lambda c, i=i, at=at: heartbeats.heartbeat(c, tid, f"c{i}", at=at, now=at)
                )
                if i % 25 == 0:
                    db.writer.run_sync(lambda c: sweep.sweep_chunk(c, T0 + 30 * TIMEOUT))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(db, n)) for n, db in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert created.count(True) == 150  # every id created exactly once
        count = first.reader.run_sync(
            lambda c: c.execute(sa.text("SELECT count(*) FROM sessions")).scalar_one()
        )
        assert count == 150
    finally:
        first.close()
        second.close()


async def test_group_commit_gathers_concurrent_writes(database: Database) -> None:
    tid = tenant(database)
    before = database.writer.stats.groups
    await asyncio.gather(
        *(
            database.writer.run(lambda c, i=i: store.start(c, tid, new_session(f"g{i}"), T0))
            for i in range(200)
        )
    )
    groups = database.writer.stats.groups - before
    assert groups < 200  # fewer commits than writes
    assert database.reader.run_sync(lambda c: store.get(c, tid, "g199")) is not None


def test_a_failing_op_fails_alone(database: Database) -> None:
    tid = tenant(database)

    def broken(tx: Transaction) -> None:
        tx.conn.execute(sa.text("INSERT INTO no_such_table VALUES (1)"))

    good = [
        database.writer.submit(lambda c, i=i: store.start(c, tid, new_session(f"f{i}"), T0))
        for i in range(5)
    ]
    bad = database.writer.submit(broken)
    for future in good:
        assert future.result()[0] is True
    with pytest.raises(sa.exc.SQLAlchemyError):
        bad.result()


def test_combined_heartbeats_give_the_outcomes_of_single_ones(database: Database) -> None:
    """Neighbouring heartbeat ops run as one executemany with the same results as alone."""
    from sessionkeeper.storage.writer import run_ops

    tid = tenant(database)
    database.writer.run_sync(
        lambda c: session_inserts.insert_many(c, tid, [new_session(f"h{i}") for i in range(4)])
    )
    database.writer.run_sync(
        lambda c: store.end(c, tid, "h1", at=T0 + 1, reason=EndReason.CLIENT, now=T0 + 1)
    )
    at = T0 + 30_000
    ops = [
        heartbeats.HeartbeatOp(tid, "h0", at=at, now=at),  # moves
        heartbeats.HeartbeatOp(tid, "h1", at=at, now=at),  # ended: closed
        heartbeats.HeartbeatOp(tid, "nope", at=at, now=at),  # not found
        heartbeats.HeartbeatOp(tid, "h2", at=T0 + 20_000, now=T0 + TIMEOUT + 25_000),  # too late
        heartbeats.HeartbeatOp(tid, "h3", at=T0 - 5, now=at),  # older than last_seen: no-op
    ]
    with database.write_engine.begin() as conn:
        combined = run_ops(Transaction(conn), list(ops))
    outcomes = [outcome for outcome, _ in combined]
    # h2's beat was made while it was alive, so it counts, though it came too late to keep the
    # session open: it answers ok with the session closed at its estimated end.
    assert outcomes == ["ok", "closed", "not_found", "ok", "ok"]
    sessions = {s.id: s for _, s in combined if s is not None}
    assert sessions["h0"].last_seen_at == at
    assert sessions["h2"].status is Status.TIMED_OUT
    assert sessions["h2"].ended_at == T0 + 20_000 + GRACE
    assert sessions["h3"].last_seen_at == T0


def test_combined_heartbeats_of_two_tenants_keep_to_their_own_sessions(database: Database) -> None:
    """A group of single heartbeats from two tenants naming the same ids: each beat moves its
    own tenant's session only, and an id only the other tenant has is not found."""
    from sessionkeeper.storage.writer import run_ops

    first, second = tenant(database, "first"), tenant(database, "second")
    database.writer.run_sync(
        lambda c: session_inserts.insert_many(c, first, [new_session("a"), new_session("b")])
    )
    database.writer.run_sync(lambda c: session_inserts.insert_many(c, second, [new_session("a")]))
    ops = [
        heartbeats.HeartbeatOp(first, "a", at=T0 + 10_000, now=T0 + 10_000),
        heartbeats.HeartbeatOp(second, "a", at=T0 + 20_000, now=T0 + 20_000),
        heartbeats.HeartbeatOp(second, "b", at=T0 + 20_000, now=T0 + 20_000),  # first's only
        heartbeats.HeartbeatOp(first, "b", at=T0 + 30_000, now=T0 + 30_000),
    ]
    with database.write_engine.begin() as conn:
        combined = run_ops(Transaction(conn), list(ops))
    assert [outcome for outcome, _ in combined] == ["ok", "ok", "not_found", "ok"]
    seen = [None if s is None else s.last_seen_at for _, s in combined]
    assert seen == [T0 + 10_000, T0 + 20_000, None, T0 + 30_000]
    stored = {
        (principal.tenant_name, sid): database.reader.run_sync(
            lambda c, p=principal, i=sid: store.get(c, p, i)
        )
        for principal, sid in [(first, "a"), (first, "b"), (second, "a")]
    }
    assert {key: s.last_seen_at for key, s in stored.items() if s is not None} == {
        ("first", "a"): T0 + 10_000,
        ("first", "b"): T0 + 30_000,
        ("second", "a"): T0 + 20_000,
    }


async def test_two_processes_beating_the_same_sessions_in_opposite_orders(pg_url: str) -> None:
    """On PostgreSQL, writes in key order (and a retry when picked as deadlock victim) keep
    two servers batch-heartbeating the same rows from failing each other."""
    from tests.support import running_app

    async with running_app(pg_url) as first, running_app(pg_url, first.clock) as second:
        ids = [f"d{i:03}" for i in range(300)]
        for sid in ids:
            await first.post("/v1/sessions", {"id": sid, "user_id": "u", "kind": "game"})
        statuses = []
        for _ in range(15):
            first.advance(1)
            forward = {"heartbeats": [{"session_id": sid} for sid in ids]}
            backward = {"heartbeats": [{"session_id": sid} for sid in reversed(ids)]}
            answers = await asyncio.gather(
                first.post("/v1/heartbeats", forward), second.post("/v1/heartbeats", backward)
            )
            statuses += [a.status_code for a in answers]
        assert set(statuses) == {200}


def _sweep_columns(database: Database, sid: str) -> tuple[int, int]:
    query = sa.select(sessions_table.c.sweep_at, sessions_table.c.expires_at).where(
        sessions_table.c.id == sid
    )
    with database.read_engine.connect() as conn:
        sweep_at, expires_at = conn.execute(query).one()
    return int(sweep_at), int(expires_at)


def test_most_heartbeats_leave_the_sweep_index_alone(database: Database) -> None:
    """A client beating on schedule (every 12 s, timeout 60 s) moves ``sweep_at`` — the only
    indexed time a heartbeat could change — on about one beat in four; ``sweep_at`` is never
    later than the deadline, so the sweep still finds every overdue session by it."""
    tid = tenant(database)
    database.writer.run_sync(lambda c: session_inserts.insert_many(c, tid, [new_session("hot")]))
    with database.write_engine.begin() as conn:
        conn.execute(sa.text("UPDATE sessions SET heartbeat_interval_ms = 12000"))
    moves, sweep_at = 0, _sweep_columns(database, "hot")[0]
    for n in range(1, 41):
        at = T0 + 12_000 * n
        database.writer.run_sync(
            partial(heartbeats.heartbeat, principal=tid, session_id="hot", at=at, now=at)
        )
        now_sweep, expires = _sweep_columns(database, "hot")
        assert now_sweep <= expires == at + TIMEOUT
        assert now_sweep >= at + 12_000  # ahead of the next beat: the sweep passes it by
        moves += now_sweep != sweep_at
        sweep_at = now_sweep
    assert moves <= 40 // 3, moves
    # Silent from then on: the sweep closes it at its estimate, found through sweep_at.
    late = T0 + 12_000 * 40 + TIMEOUT + 1
    assert database.writer.run_sync(lambda c: sweep.sweep_chunk(c, late)) == [
        (tid.tenant_id, "hot")
    ]


def test_a_shortened_timeout_pulls_sweep_at_back_to_the_deadline(database: Database) -> None:
    tid = tenant(database)
    database.writer.run_sync(lambda c: session_inserts.insert_many(c, tid, [new_session("short")]))
    with database.write_engine.begin() as conn:
        conn.execute(sa.text("UPDATE sessions SET timeout_ms = 5000, heartbeat_interval_ms = 1000"))
    at = T0 + 1_000
    database.writer.run_sync(
        partial(heartbeats.heartbeat, principal=tid, session_id="short", at=at, now=at)
    )
    assert _sweep_columns(database, "short") == (at + 5_000, at + 5_000)
    assert database.writer.run_sync(lambda c: sweep.sweep_chunk(c, at + 5_001)) == [
        (tid.tenant_id, "short")
    ]


def test_the_sweep_moves_sweep_at_of_live_rows_it_looked_at(database: Database) -> None:
    """A row whose ``sweep_at`` passed while a beat kept it open (a late beat that did not
    move it) is looked at once, then passed by until its deadline."""
    tid = tenant(database)
    database.writer.run_sync(lambda c: session_inserts.insert_many(c, tid, [new_session("live")]))
    with database.write_engine.begin() as conn:
        conn.execute(sa.text("UPDATE sessions SET sweep_at = :t"), {"t": T0 + 1})
    at = T0 + 30_000
    database.writer.run_sync(
        partial(heartbeats.heartbeat, principal=tid, session_id="live", at=at, now=at)
    )
    assert database.writer.run_sync(lambda c: sweep.sweep_chunk(c, at + 1)) == []
    assert _sweep_columns(database, "live") == (at + TIMEOUT, at + TIMEOUT)


def test_heartbeats_on_postgresql_are_hot_updates(pg_url: str) -> None:
    """On PostgreSQL a heartbeat that leaves ``sweep_at`` alone changes no indexed column, so
    it is a HOT update: the new row version stays on its page and no index is written."""
    database = Database(settings_for(pg_url))
    tid = tenant(database)
    ids = [f"p{i}" for i in range(200)]
    database.writer.run_sync(
        lambda c: session_inserts.insert_many(c, tid, [new_session(i) for i in ids])
    )
    with database.write_engine.begin() as conn:
        conn.execute(sa.text("UPDATE sessions SET heartbeat_interval_ms = 12000"))
    # That set-up UPDATE left a dead version of every row on its page; a vacuum (as autovacuum
    # would) gives the pages their free space back, as in a table that has been running a while.
    plain = sa.create_engine(
        pg_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    try:
        with plain.connect() as conn:
            conn.execute(sa.text("VACUUM sessions"))
    finally:
        plain.dispose()
    counts = sa.text(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'sessions'"
    )

    def updates() -> tuple[int, int]:
        # Read on a connection of its own: the writer's counts reach the statistics when its
        # connection closes.
        engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as conn:
                return tuple(conn.execute(counts).one())  # type: ignore[return-value]
        finally:
            engine.dispose()

    database.close()
    database = Database(settings_for(pg_url))
    before = updates()
    for n in (1, 2):  # two beats each, a while apart: neither needs to move sweep_at
        at = T0 + 12_000 * n
        for sid in ids:
            database.writer.run_sync(
                partial(heartbeats.heartbeat, principal=tid, session_id=sid, at=at, now=at)
            )
    database.close()
    for _ in range(50):  # a closed connection's counts arrive a moment after it is gone
        after = updates()
        updated, hot = after[0] - before[0], after[1] - before[1]
        if updated >= 400:
            break
        time.sleep(0.1)
    assert updated >= 400 and hot >= updated // 2, (updated, hot)


def test_postgresql_connections_bound_statements_and_never_compile_them(pg_url: str) -> None:
    """A statement gives up at its timeout, and none is JIT-compiled: LLVM took minutes over
    the nested rule expressions of a large read and ignored every cancel meanwhile."""
    from sessionkeeper.storage.engine import ConnectionLimits, create_engine

    engine = create_engine(pg_url, role="reader", limits=ConnectionLimits(statement_timeout_s=7))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW jit")).scalar() == "off"
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "7s"
    finally:
        engine.dispose()
