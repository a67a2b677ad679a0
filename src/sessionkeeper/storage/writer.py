"""The one writer of a server process: group commit.

Requests hand the writer small functions (*ops*) that each run a few statements on a
connection and return plain values. A thread takes every op waiting in the queue, runs them
all in ONE transaction and commits once, then answers each request. Concurrent requests thus
share a commit (the throughput of batching) while each one is answered only after its own
writes are durable (the safety of commit-per-request).

If anything in a batch raises, the batch is rolled back and its ops are run again one
transaction each, so one bad op fails alone.

An op may also be *combinable* (see :class:`Combinable`): a run of neighbouring ops with the
same ``combine_key`` is then carried out by one ``run_many`` call, e.g. many single
heartbeats by one ``executemany``. Only neighbours are combined, so the order of writes to
one row is kept.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from sqlalchemy.engine import Connection, Engine

from sessionkeeper.errors import StorageUnavailable
from sessionkeeper.storage.engine import storage_errors

T = TypeVar("T")
Op = Callable[[Connection], Any]

log = logging.getLogger(__name__)

_STOP = object()
CONFLICT_RETRIES = 5


@runtime_checkable
class Combinable(Protocol):
    combine_key: ClassVar[str]

    def __call__(self, conn: Connection) -> Any: ...

    @classmethod
    def run_many(cls, conn: Connection, ops: list[Any]) -> list[Any]:
        """The results of ``ops``, in order, as if each had been called alone."""
        ...


def _combine_key(op: Op) -> str | None:
    return op.combine_key if isinstance(op, Combinable) else None


def run_ops(conn: Connection, ops: list[Op]) -> list[Any]:
    """Run ops in order, combining neighbouring runs of combinable ops of one kind."""
    results: list[Any] = []
    start = 0
    while start < len(ops):
        key = _combine_key(ops[start])
        end = start + 1
        while key is not None and end < len(ops) and _combine_key(ops[end]) == key:
            end += 1
        if end - start > 1:
            first = ops[start]
            assert isinstance(first, Combinable)
            results.extend(type(first).run_many(conn, ops[start:end]))
        else:
            results.append(ops[start](conn))
        start = end
    return results


@dataclass(slots=True)
class WriterStats:
    batches: int = 0
    ops: int = 0


class Writer:
    def __init__(self, engine: Engine, *, max_batch: int = 1000) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
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

    def submit(self, op: Callable[[Connection], T]) -> Future[T]:
        if self._thread is None:
            self.start()
        future: Future[T] = Future()
        self._queue.put((op, future))
        return future

    async def run(self, op: Callable[[Connection], T]) -> T:
        """Run ``op`` in the next group commit; returns once it is committed."""
        return await asyncio.wrap_future(self.submit(op))

    def run_sync(self, op: Callable[[Connection], T]) -> T:
        return self.submit(op).result()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            stop_after = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop_after = True
                    break
                batch.append(nxt)
            # A request cancelled before its op ran gets no answer, so its op need not run;
            # the others are marked running and can no longer be cancelled under us.
            batch = [(op, future) for op, future in batch if future.set_running_or_notify_cancel()]
            try:
                self._commit(batch)
            except BaseException as exc:  # the one writer thread must never die
                log.exception("writer failed on a batch")
                for _, future in batch:
                    _settle(future, error=exc)
            if stop_after:
                return

    def _commit(self, batch: list[tuple[Op, Future[Any]]]) -> None:
        if not batch:
            return
        try:
            results = self._transaction([op for op, _ in batch])
        except StorageUnavailable as exc:
            # The database failed, not an op: running each op alone would only wait again.
            for _, future in batch:
                _settle(future, error=exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
            else:
                for item in batch:
                    self._commit([item])
            return
        self.stats.batches += 1
        self.stats.ops += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)

    def _transaction(self, ops: list[Op]) -> list[Any]:
        """Run ``ops`` in one transaction, again when PostgreSQL picked it as a deadlock or
        serialisation victim (several server processes writing the same rows)."""
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                with storage_errors(), self.engine.begin() as conn:
                    return run_ops(conn, ops)
            except StorageUnavailable as exc:
                if attempt == CONFLICT_RETRIES or not _is_transient_conflict(exc):
                    raise
        raise AssertionError("unreachable")


def _is_transient_conflict(exc: StorageUnavailable) -> bool:
    driver_error = getattr(exc.__cause__, "orig", None)
    return getattr(driver_error, "sqlstate", None) in ("40P01", "40001")


def _settle(future: Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
