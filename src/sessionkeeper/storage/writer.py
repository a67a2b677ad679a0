"""The one writer of a server process: group commit.

Requests hand the writer small functions (*ops*) that each run a few statements in a
:class:`~sessionkeeper.storage.transaction.Transaction` and return plain values. A thread
takes every op waiting in the queue (a *group*), runs them all in ONE transaction and commits
once, then answers each request. Concurrent requests thus share a commit (the throughput of
batching) while each one is answered only after its own writes are durable (the safety of
commit-per-request).

The rule for ops: **SQL only, never a network call, in bounded chunks.** Every op of a group
holds the one write transaction while it runs, so an op that waits on anything but the
database, or works through an unbounded set of rows, stalls every other request. Work that
needs the network (webhook delivery, Redis) happens after commit, in a subscriber or a job;
work over many rows is split into chunks of a fixed size, one op each.

If anything in a group raises, the group is rolled back and its ops are run again one
transaction each, so one bad op fails alone.

**Change events.** Ops record events on their transaction (``tx.record(...)``). Subscribers
registered ``in_transaction`` see them before the commit and may write rows in the same
transaction (a webhook outbox, rollup dirty marks), so those rows exist exactly when the
change does. Before them, *derivers* may turn the transaction's events into further events
of the same transaction (a feature's reading of a kernel change, such as what a session the
sweep closed meant to it); what they return is recorded like any other event. First of all,
*reactions* may carry a kernel change on into a feature's own rows with writes that record
events of their own (a room whose session was ended through the sessions API closes its
attendances); derivers and subscribers then see those too. Subscribers
registered ``after_commit`` receive them only after the commit succeeded, exactly once: a
group rolled back and retried op by op publishes only what each op's own committed
transaction recorded, and a failed op publishes nothing.

An op may also be *combinable* (see :class:`Combinable`): a run of neighbouring ops with the
same ``combine_key`` is then carried out by one ``run_combined`` call, e.g. many single
heartbeats by one ``executemany``. Only neighbours are combined, so the order of writes to
one row is kept.

**Bounded waiting.** A request waits at most ``write_timeout_s`` for its op to commit and then
gets :class:`StorageUnavailable` (a 503 with ``Retry-After``), never a 2xx for a write that was
not stored; an op still queued then is skipped. When ``max_queue`` ops wait already, a new one
is refused at once: under a database that stopped answering, load is shed instead of piling
up in memory.

**Recovery.** The first transaction after the writer starts, and the first after one failed
because the database could not be reached, runs the ``recovery`` hook before its ops (see
``storage/liveness.py``: deadlines that fell inside the outage move by its length).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from sqlalchemy.engine import Connection, Engine

from sessionkeeper.clock import monotonic_s
from sessionkeeper.domain.events import ChangeEvent
from sessionkeeper.errors import StorageUnavailable
from sessionkeeper.storage.engine import ConnectionLimits, is_conflict, storage_errors
from sessionkeeper.storage.replies import Deadlines, LoopReply, Reply, settle_all
from sessionkeeper.storage.transaction import Transaction
from sessionkeeper.storage.watchdog import Watchdog

T = TypeVar("T")
Op = Callable[[Transaction], Any]
InTransaction = Callable[[Connection, Sequence[ChangeEvent]], None]
React = Callable[[Transaction, Sequence[ChangeEvent]], None]
Derive = Callable[[Connection, Sequence[ChangeEvent]], Sequence[ChangeEvent]]
AfterCommit = Callable[[Sequence[ChangeEvent]], None]

log = logging.getLogger(__name__)

_STOP = object()
CONFLICT_RETRIES = 5


@runtime_checkable
class Combinable(Protocol):
    combine_key: ClassVar[str]

    def __call__(self, tx: Transaction) -> Any: ...

    @classmethod
    def run_combined(cls, tx: Transaction, ops: list[Any]) -> list[Any]:
        """The results of ``ops``, in order, as if each had been called alone."""
        ...


def _combine_key(op: Op) -> str | None:
    # Not isinstance(op, Combinable): a runtime protocol check costs more than the lookup,
    # and it runs for every op of every group.
    key = getattr(op, "combine_key", None)
    return key if isinstance(key, str) else None


def run_ops(tx: Transaction, ops: list[Op]) -> list[Any]:
    """Run ops in order, combining neighbouring runs of combinable ops of one kind."""
    results: list[Any] = []
    start = 0
    while start < len(ops):
        key = _combine_key(ops[start])
        end = start + 1
        while key is not None and end < len(ops) and _combine_key(ops[end]) == key:
            end += 1
        # A combinable op alone goes the combined way too: its statements are built once for
        # all groups, where the op's own would be built at every call (a lone heartbeat
        # cost its group about three times the writer's time).
        if key is not None:
            first = ops[start]
            results.extend(type(first).run_combined(tx, ops[start:end]))  # type: ignore[attr-defined]
        else:
            results.append(ops[start](tx))
        start = end
    return results


@dataclass(slots=True)
class WriterStats:
    groups: int = 0
    ops: int = 0


class Subscribers:
    """Who hears of change events; the list is built in one place (``services/subscribers``)."""

    def __init__(self) -> None:
        self.react: list[React] = []
        self.derive: list[Derive] = []
        self.in_transaction: list[InTransaction] = []
        self.after_commit: list[AfterCommit] = []

    def within(self, tx: Transaction, since: int = 0) -> None:
        """For the events recorded from ``since`` on: let reactions write (and record), record
        the derived events, then let in-transaction subscribers write their rows; a failure
        rolls the group back."""
        fresh = tuple(tx.events[since:])
        if fresh:
            for react in self.react:
                react(tx, fresh)
            fresh = tuple(tx.events[since:])
            for derive in self.derive:
                tx.record(*derive(tx.conn, fresh))
            for subscriber in self.in_transaction:
                subscriber(tx.conn, tx.events[since:])

    def publish(self, events: Sequence[ChangeEvent]) -> None:
        """Hand committed events to every after-commit subscriber; one failing subscriber
        neither stops the others nor fails the write, which is durable already."""
        if not events:
            return
        for subscriber in self.after_commit:
            try:
                subscriber(events)
            except Exception:
                log.exception("change event subscriber %r failed", subscriber)


class Writer:
    def __init__(
        self,
        engine: Engine,
        *,
        max_group: int = 1000,
        max_queue: int = 10_000,
        write_timeout_s: float = 10.0,
        watchdog: Watchdog | None = None,
    ) -> None:
        self.engine = engine
        self.max_group = max_group
        self.max_queue = max_queue
        self.write_timeout_s = write_timeout_s
        self.watchdog = watchdog or Watchdog(ConnectionLimits().answer_deadline_s)
        self.stats = WriterStats()
        self.subscribers = Subscribers()
        # Run in the first transaction after start and after the database was unreachable.
        self.recovery: Op | None = None
        self._needs_recovery = True
        self._lost_since: float | None = None  # monotonic time the database was lost
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # The waits of the loop that submits (a server process has one; a loop replaced, as
        # tests do, keeps its own until its timer has run out).
        self._deadlines: Deadlines | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sk-writer", daemon=True)
                self._thread.start()

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _enqueue(self, op: Op, reply: Reply) -> None:
        if self._thread is None:
            self.start()
        if self._queue.qsize() >= self.max_queue:
            raise StorageUnavailable(
                f"the database is not keeping up: {self.max_queue} writes are waiting"
            )
        self._queue.put((op, reply))

    def submit(self, op: Callable[[Transaction], T]) -> Future[T]:
        future: Future[T] = Future()
        self._enqueue(op, future)
        return future

    async def run(self, op: Callable[[Transaction], T]) -> T:
        """Run ``op`` in the next group commit; returns once it is committed."""
        loop = asyncio.get_running_loop()
        reply = LoopReply(loop)
        self._enqueue(op, reply)
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = Deadlines(loop, self.write_timeout_s)
        deadlines.add(reply)
        try:
            result: T = await reply.future
            return result
        except asyncio.CancelledError:
            # Past its deadline the reply's future is cancelled: an op that has not started
            # by then is skipped by the writer. A cancellation of the request's task itself
            # (the server shutting down, a caller's own bound) stays one, even when it came
            # on top of the deadline.
            task = asyncio.current_task()
            if reply.timed_out and (task is None or not task.cancelling()):
                raise self._timed_out() from None
            raise

    def run_sync(self, op: Callable[[Transaction], T]) -> T:
        future = self.submit(op)
        try:
            return future.result(self.write_timeout_s)
        except TimeoutError:
            future.cancel()
            raise self._timed_out() from None

    def _timed_out(self) -> StorageUnavailable:
        return StorageUnavailable(
            f"database unavailable: no answer within {self.write_timeout_s:g} s"
        )

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            group = [item]
            stop_after = False
            while len(group) < self.max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop_after = True
                    break
                group.append(nxt)
            # A request cancelled before its op ran gets no answer, so its op need not run;
            # the others are marked running and can no longer be cancelled under us.
            group = [(op, reply) for op, reply in group if reply.set_running_or_notify_cancel()]
            try:
                self._commit(group)
            except BaseException as exc:  # the one writer thread must never die
                log.exception("writer failed on a group")
                settle_all([reply for _, reply in group], None, exc)
            if stop_after:
                return

    def _commit(self, group: list[tuple[Op, Reply]]) -> None:
        if not group:
            return
        try:
            results, tx = self._transaction([op for op, _ in group])
        except StorageUnavailable as exc:
            if _is_transient_conflict(exc):
                if len(group) > 1:
                    # Another process locked some of the group's rows in another order:
                    # alone, each op locks its own rows only, so it cannot deadlock that way
                    # again.
                    for item in group:
                        self._commit([item])
                    return
                # One op lost every retry to other processes' locks. The database answered
                # all along: that is no outage to recover from, only a write refused (503).
                settle_all([group[0][1]], None, exc)
                return
            # The database failed, not an op: running each op alone would only wait again.
            self._needs_recovery = True
            if self._lost_since is None:
                self._lost_since = monotonic_s()
                log.warning("database lost: %s", exc.detail)
            settle_all([reply for _, reply in group], None, exc)
            return
        except Exception as exc:
            if len(group) == 1:
                settle_all([group[0][1]], None, exc)
            else:
                for item in group:
                    self._commit([item])
            return
        self.stats.groups += 1
        self.stats.ops += len(group)
        for action in tx.committed:
            try:
                action()
            except Exception:  # memory only: what committed stands, and answers go out
                log.exception("writer: an action after commit failed")
        # Before the answers: a client that saw its 2xx also sees the metrics move.
        self.subscribers.publish(tx.events)
        settle_all([reply for _, reply in group], results)

    def _transaction(self, ops: list[Op]) -> tuple[list[Any], Transaction]:
        """Run ``ops`` in one transaction. A single op is run again when PostgreSQL picked it
        as a deadlock or serialisation victim (several server processes writing the same
        rows); a group is then split by the caller instead.

        Returns the results and the transaction of the attempt that committed (its events
        and its actions after commit)."""
        attempts = CONFLICT_RETRIES if len(ops) == 1 else 1
        for attempt in range(1, attempts + 1):
            try:
                recovering = self._needs_recovery and self.recovery is not None
                with (
                    storage_errors(self.engine),
                    self.engine.begin() as conn,
                    self.watchdog.guard(conn),
                ):
                    tx = Transaction(conn)
                    if recovering:
                        assert self.recovery is not None
                        self.recovery(tx)
                        # Features hear of the recovery before the ops run, so that an op
                        # (a cleanup, a close) sees what the recovery moved.
                        self.subscribers.within(tx)
                    heard = len(tx.events)
                    results = run_ops(tx, ops)
                    self.subscribers.within(tx, since=heard)
                if recovering:
                    self._needs_recovery = False
                if self._lost_since is not None:
                    log.warning("database regained after %.1f s", monotonic_s() - self._lost_since)
                    self._lost_since = None
                return results, tx
            except StorageUnavailable as exc:
                if attempt == attempts or not _is_transient_conflict(exc):
                    raise
                # Apart, so that the processes that collided do not meet again in step.
                time.sleep(random.uniform(0.001, 0.02) * attempt)
        raise AssertionError("unreachable")


def _is_transient_conflict(exc: StorageUnavailable) -> bool:
    return exc.__cause__ is not None and is_conflict(exc.__cause__)
