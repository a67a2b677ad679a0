"""The group-commit writer under failure: cancelled requests, a database that is away."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from sessionkeeper.errors import StorageUnavailable
from sessionkeeper.storage.engine import create_engine, storage_errors
from sessionkeeper.storage.transaction import Transaction
from sessionkeeper.storage.writer import Writer


def test_a_cancelled_request_is_skipped_and_the_writer_lives_on(tmp_path: Path) -> None:
    writer = Writer(create_engine(f"sqlite:///{tmp_path / 'w.db'}", role="writer"))
    gate = threading.Event()
    ran: list[str] = []
    try:
        blocker = writer.submit(lambda conn: gate.wait(10))
        time.sleep(0.05)  # the writer is now inside the blocker's transaction
        cancelled = writer.submit(lambda conn: ran.append("cancelled op"))
        assert cancelled.cancel()
        gate.set()
        assert blocker.result(5) is True
        assert writer.run_sync(lambda conn: ran.append("next op")) is None
        assert ran == ["next op"]
    finally:
        writer.close()


async def test_a_wait_past_its_bound_answers_unavailable_and_its_op_never_runs(
    tmp_path: Path,
) -> None:
    writer = Writer(
        create_engine(f"sqlite:///{tmp_path / 'w.db'}", role="writer"), write_timeout_s=0.3
    )
    gate = threading.Event()
    ran: list[str] = []
    try:
        blocker = asyncio.ensure_future(writer.run(lambda tx: gate.wait(10)))
        await asyncio.sleep(0.1)  # the writer is inside the blocker's transaction
        began = time.monotonic()
        late = asyncio.ensure_future(writer.run(lambda tx: ran.append("late op")))
        await asyncio.sleep(0.1)
        later = asyncio.ensure_future(writer.run(lambda tx: ran.append("later op")))
        with pytest.raises(StorageUnavailable, match=r"no answer within 0\.3 s"):
            await blocker  # began 0.2 s before the late one: due first
        with pytest.raises(StorageUnavailable):
            await late
        assert 0.25 <= time.monotonic() - began < 2
        with pytest.raises(StorageUnavailable):
            await later
        # Each wait got its own bound, however the deadlines fell.
        assert 0.35 <= time.monotonic() - began < 2
        gate.set()
        assert await writer.run(lambda tx: ran.append("next op")) is None
        assert ran == ["next op"]  # the ops that timed out before they started never ran
        answered = [writer.run(lambda tx, n=n: n) for n in range(50)]
        assert await asyncio.gather(*answered) == list(range(50))
    finally:
        gate.set()
        writer.close()


def test_a_locked_database_fails_the_batch_once_not_op_by_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    writer = Writer(create_engine(url, role="writer"))
    writer.run_sync(lambda tx: tx.conn.execute(sa.text("CREATE TABLE t (x INTEGER)")))
    holder = create_engine(url, role="writer")
    lock = holder.connect()
    lock.begin()  # BEGIN IMMEDIATE: the write lock, held
    # A short busy timeout keeps the test fast.
    writer.engine.dispose()
    writer.engine = create_engine(url, role="writer")

    @sa.event.listens_for(writer.engine, "connect")
    def short_busy(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA busy_timeout=300")

    attempts: list[int] = []
    sa.event.listen(writer.engine, "begin", lambda conn: attempts.append(1))
    try:
        gate = threading.Event()
        first = writer.submit(lambda conn: gate.wait(0))
        rest = [
            writer.submit(lambda tx: tx.conn.execute(sa.text("INSERT INTO t VALUES (1)")))
            for _ in range(5)
        ]
        for future in [first, *rest]:
            with pytest.raises(StorageUnavailable):
                future.result(30)
        # One attempt per batch (the six ops arrive in one or two); op by op it would be 7+,
        # each waiting out the busy timeout again.
        assert len(attempts) <= 2
    finally:
        lock.rollback()
        lock.close()
        holder.dispose()
        writer.close()


def test_actions_after_commit_run_only_for_the_attempt_that_committed(tmp_path: Path) -> None:
    """A group that fails is rolled back and run again op by op: what an op asked to do in
    memory during the failed attempt is dropped, and done once by the attempt that commits."""
    writer = Writer(create_engine(f"sqlite:///{tmp_path / 'after.db'}", role="writer"))
    done: list[str] = []
    gate = threading.Event()

    def remember(name: str) -> Callable[[Transaction], None]:
        def op(tx: Transaction) -> None:
            tx.after_commit(lambda: done.append(name))

        return op

    def fail(tx: Transaction) -> None:
        tx.after_commit(lambda: done.append("failed"))
        raise ValueError("refused")

    try:
        blocker = writer.submit(lambda tx: gate.wait(10))
        time.sleep(0.05)  # the next three wait, and go as one group
        futures = [writer.submit(remember("a")), writer.submit(fail), writer.submit(remember("b"))]
        gate.set()
        blocker.result(5)
        futures[0].result(5)
        with pytest.raises(ValueError):
            futures[1].result(5)
        futures[2].result(5)
        assert sorted(done) == ["a", "b"]
    finally:
        writer.close()


class _Deadlock(Exception):
    """What PostgreSQL's driver raises for a deadlock victim, as far as the writer looks."""

    sqlstate = "40P01"


def test_an_op_that_loses_every_deadlock_retry_is_refused_and_is_no_outage(
    tmp_path: Path,
) -> None:
    """Lock conflicts with other processes are retried; one op that loses them all gets its
    503, and the writer does not take it for a lost database (no recovery runs after it)."""
    writer = Writer(create_engine(f"sqlite:///{tmp_path / 'conflict.db'}", role="writer"))
    recovered: list[int] = []
    writer.recovery = lambda tx: recovered.append(1)
    attempts: list[int] = []

    def lose(tx: Transaction) -> None:
        attempts.append(1)
        cause = sa.exc.OperationalError("UPDATE sessions", {}, _Deadlock())
        raise StorageUnavailable("database unavailable: deadlock detected") from cause

    try:
        writer.run_sync(lambda tx: None)
        assert recovered == [1]  # a started writer recovers once
        with pytest.raises(StorageUnavailable):
            writer.run_sync(lose)
        assert len(attempts) > 1  # retried alone before giving up
        writer.run_sync(lambda tx: None)
        assert recovered == [1]
    finally:
        writer.close()


def test_a_write_conflict_is_named_as_such_without_the_drivers_words() -> None:
    """A client refused after every retry learns it met another process's write; the
    driver's text (the statement, the row, the other process) stays out of the answer."""
    driver = _Deadlock("deadlock detected CONTEXT: while updating tuple (2,2) in relation")
    with pytest.raises(StorageUnavailable) as refused, storage_errors():
        raise sa.exc.OperationalError("UPDATE sessions SET last_seen_at = 1", {}, driver)
    assert str(refused.value) == "a write conflict with another server process; try again"
