"""Reporting a presence source's full state: at start, on every tick, and on demand.

The periodic snapshot is the checkpoint that keeps a source's sessions alive and corrects
whatever an event missed. A snapshot is always taken fresh, right before it is sent, and it
carries the time it was taken (``at``, on the client's clock).

Taking and sending are apart: snapshots are taken on schedule (and on ``report_now``) also
while a send hangs on an unreachable server, each kept until the server accepts it. When a
send fails (no connection, a timeout, 5xx, 429) the snapshot is kept, and the next attempt —
sooner than the next tick, with backoff — has a fresh one taken and sends the kept ones first,
oldest first, each with its own ``at``, then the fresh one. A kept snapshot is history,
not a present state: the server applies it as the source's state *at its time*, so a user who
came and went while the server was unreachable gets a session for the time they were there,
and the sessions of a source survive a partition shorter than their timeout. What must never
happen is the old state being applied as the present one — ending sessions that had just
started and starting ones that had just ended — and it cannot: the state of *now* is always
taken fresh and sent last, and the server keeps, per source, the time of the newest state it
applied and ignores an older one (``stale``), which is why the kept ones go strictly in order.
For the same reason the client's own retries are off for these requests: an attempt is
repeated by this loop, behind the snapshots that came before it.

The kept snapshots are thinned (see :mod:`sessionkeeper.client.backlog`): one that changed
something is always kept, an unchanged one only where the gap to the next would otherwise
exceed ``timeout``; at most ``max_kept`` are kept, the oldest given up first. A snapshot the
server refuses (a bad entry, a revoked key) is dropped: sending it again would be refused again.

Stopping a reporter does not report everyone gone: if the source comes back before the
timeout its sessions continue, and if not they time out with estimated ends. Snapshots still
kept when it stops are not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from sessionkeeper.client import calls
from sessionkeeper.client.backlog import DEFAULT_MAX_KEPT, Backlog, Snapshot
from sessionkeeper.client.errors import SessionkeeperError
from sessionkeeper.client.evidence import as_datetime, now_ms
from sessionkeeper.client.presence_models import PresenceResult, PresenceSummary
from sessionkeeper.client.retry import RetryPolicy, is_transient, wait_after

if TYPE_CHECKING:
    from sessionkeeper.client.async_client import AsyncClient
    from sessionkeeper.client.sync_client import Client

log = logging.getLogger("sessionkeeper.client")

Entries = Iterable[Mapping[str, Any]]
SnapshotFn = Callable[[], Entries]
AsyncSnapshotFn = Callable[[], Entries | Awaitable[Entries]]


Report = PresenceResult | PresenceSummary

# How long a send may be in flight before snapshots are taken beside it: the server is then
# taken as unreachable, and what changes meanwhile is kept as history. Below it, a send is
# waited for and the wakes during it make one snapshot after it.
HANGING_S = 1.0


class _Reporter:
    """What both reporters keep: the snapshots not yet accepted, what the last report did,
    and when the next attempt is due.

    ``compress`` sends each snapshot gzipped; ``summary`` asks for counts only in the answer
    (a :class:`PresenceSummary` in ``last_result``) instead of every entry echoed back.
    """

    def __init__(
        self,
        source: str,
        every: float,
        backoff: float,
        timeout: float | None,
        max_kept: int,
        *,
        compress: bool = False,
        summary: bool = False,
    ) -> None:
        if every <= 0:
            raise ValueError("every must be a positive number of seconds")
        self.source = source
        self.every = every
        self.compress = compress
        self.summary = summary
        self.last_result: Report | None = None
        self.last_error: Exception | None = None
        self.reports = 0  # snapshots the server accepted
        self.failures = 0  # failed attempts since the last accepted one
        self._backoff = RetryPolicy(retries=0, backoff=backoff)
        # No policy has a timeout shorter than its heartbeat interval, which is ``every``.
        gap_s = every if timeout is None else timeout
        self._backlog = Backlog(max_gap_ms=round(gap_s * 1000), max_kept=max_kept)
        self._stopping = False
        self._sending_since = 0.0  # when the last send began (monotonic)

    @property
    def kept(self) -> int:
        """Snapshots taken but not accepted by the server yet."""
        return len(self._backlog)

    @property
    def dropped(self) -> int:
        """Snapshots that said something new but were given up beyond the caps."""
        return self._backlog.dropped

    def _until_hanging(self) -> float:
        """The seconds until the send in flight counts as hanging (0 when none is)."""
        return max(0.0, self._sending_since + HANGING_S - time.monotonic())

    def _take(self, entries: Entries) -> None:
        self._backlog.add(now_ms(), entries)

    def _next(self) -> tuple[Snapshot, calls.Call[Report]] | None:
        """The oldest kept snapshot and its request, each with the time it was taken."""
        snapshot = self._backlog.oldest()
        if snapshot is None or self._stopping:
            return None
        at = as_datetime(snapshot.at)
        make = calls.presence_snapshot_summary if self.summary else calls.presence_snapshot
        # Either parses the answer into one of the two; Call is invariant in what it parses.
        call = make(self.source, snapshot.entries, at=at, compress=self.compress)
        return snapshot, cast("calls.Call[Report]", call)

    def _settle(self, snapshot: Snapshot, outcome: Report | Exception) -> float | None:
        """Take in what sending ``snapshot`` brought; returns the wait before the next attempt,
        or None to go on with the next kept snapshot."""
        if not isinstance(outcome, Exception):
            self._backlog.accepted(snapshot)
            self.last_result = outcome
            self.reports += 1
            self.failures = 0
            return None
        if not isinstance(outcome, SessionkeeperError) or is_transient(outcome):
            return self._failed(outcome)
        # Refused (a bad entry, a revoked key): sending it again would be refused again,
        # but the next tick's state may well pass.
        self._backlog.refused(snapshot)
        self.last_error = outcome
        self.failures += 1
        log.error("presence report of %s refused: %s", self.source, outcome)
        return None

    def _failed(self, error: Exception) -> float:
        """Record a failure worth retrying; returns the wait before the next attempt."""
        self.last_error = error
        self.failures += 1
        wait = wait_after(self._backoff, self.failures, error, self.every)
        log.warning("presence report of %s failed, again in %.1f s: %r", self.source, wait, error)
        return wait


class PresenceReporter(_Reporter):
    """Sends ``snapshot_fn()`` as the full state of ``source`` from a background thread: at
    :meth:`start`, then every ``every`` seconds, and at once on :meth:`report_now`.

    ``snapshot_fn`` runs in that thread and returns entries such as
    ``{"user_id": "42", "kind": "game", "label": "Minecraft"}``. Snapshots that could not be
    delivered are kept (at most ``max_kept``, thinned to gaps of at most ``timeout`` seconds
    where nothing changed: pass the shortest ``timeout_s`` of the source's kinds; default
    ``every``) and sent, oldest first with their own times, before the current one.
    """

    def __init__(
        self,
        client: Client,
        source: str,
        snapshot_fn: SnapshotFn,
        every: float = 60,
        *,
        backoff: float | None = None,
        timeout: float | None = None,
        max_kept: int = DEFAULT_MAX_KEPT,
        compress: bool = False,
        summary: bool = False,
    ) -> None:
        backoff = client.retry.backoff if backoff is None else backoff
        super().__init__(
            source, every, backoff, timeout, max_kept, compress=compress, summary=summary
        )
        self._client = client
        self._snapshot_fn = snapshot_fn
        self._wake = threading.Event()  # take a snapshot now
        self._taken = threading.Event()  # one was taken: send what is kept
        self._stopped = threading.Event()
        self._idle = threading.Event()  # no send in flight
        self._idle.set()
        self._lock = threading.Lock()  # the backlog, between the two threads
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("this reporter has been started already")
        self._threads = [
            threading.Thread(target=run, name=f"sessionkeeper-presence-{self.source}-{name}")
            for name, run in (("take", self._take_loop), ("send", self._send_loop))
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop reporting; a report in flight is let finish (within ``timeout``)."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        self._taken.set()
        for thread in self._threads:
            thread.join(timeout)

    def report_now(self) -> None:
        """Report the current state as soon as possible; safe to call from any thread."""
        self._wake.set()

    def _take_loop(self) -> None:
        """Take the state at start, every ``every`` seconds and on :meth:`report_now`, also
        while a send hangs: each one is kept for the sending thread."""
        wait = 0.0  # the first report goes out at once
        while True:
            self._wake.wait(wait)
            if self._stopping:
                return
            # A send in flight is waited for (the wakes meanwhile make one snapshot, taken
            # after it, as one loop did), unless it hangs: then the state is taken anyway.
            self._idle.wait(self._until_hanging())
            # Cleared before the snapshot is taken: a change after this point wakes us again.
            self._wake.clear()
            try:
                entries = self._snapshot_fn()
            except Exception as exc:
                with self._lock:
                    wait = self._failed(exc)
                continue
            with self._lock:
                self._take(entries)
            self._taken.set()
            wait = self.every

    def _send_loop(self) -> None:
        """Send the kept snapshots, oldest first, whenever one was taken; after a failure,
        wait out the backoff and have a fresh one taken to go behind the kept ones."""
        while True:
            self._taken.wait()
            if self._stopping:
                return
            self._taken.clear()
            wait = self._send_kept()
            if wait is not None:
                if self._stopped.wait(wait):
                    return
                self._wake.set()

    def _send_kept(self) -> float | None:
        """Send the kept snapshots, oldest first; the wait before the next attempt after a
        failure, None when all were sent."""
        while True:
            with self._lock:
                next_ = self._next()
            if next_ is None:
                return None
            self._sending_since = time.monotonic()
            self._idle.clear()
            try:
                # retries=0: a failed attempt is retried by the loop, behind a fresh snapshot.
                outcome: Report | Exception = self._client.send(next_[1], retries=0)
            except Exception as exc:
                outcome = exc
            finally:
                self._idle.set()
            with self._lock:
                wait = self._settle(next_[0], outcome)
            if wait is not None:
                return wait

    def __enter__(self) -> PresenceReporter:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class AsyncPresenceReporter(_Reporter):
    """:class:`PresenceReporter` for an :class:`AsyncClient`, as an asyncio task.

    ``snapshot_fn`` may be a plain or an async function. :meth:`report_now` must be called
    from the event loop's thread (an event handler, typically).
    """

    def __init__(
        self,
        client: AsyncClient,
        source: str,
        snapshot_fn: AsyncSnapshotFn,
        every: float = 60,
        *,
        backoff: float | None = None,
        timeout: float | None = None,
        max_kept: int = DEFAULT_MAX_KEPT,
        compress: bool = False,
        summary: bool = False,
    ) -> None:
        backoff = client.retry.backoff if backoff is None else backoff
        super().__init__(
            source, every, backoff, timeout, max_kept, compress=compress, summary=summary
        )
        self._client = client
        self._snapshot_fn = snapshot_fn
        self._wake = asyncio.Event()  # take a snapshot now
        self._taken = asyncio.Event()  # one was taken: send what is kept
        self._stopped = asyncio.Event()
        self._idle = asyncio.Event()  # no send in flight
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("this reporter has been started already")
        self._tasks = [
            asyncio.create_task(run(), name=f"sessionkeeper-presence-{self.source}-{name}")
            for name, run in (("take", self._take_loop), ("send", self._send_loop))
        ]

    async def stop(self) -> None:
        """Stop reporting; a report in flight is let finish."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        self._taken.set()
        if self._tasks:
            await asyncio.wait(self._tasks)

    def report_now(self) -> None:
        self._wake.set()

    async def _take_loop(self) -> None:
        """As :meth:`PresenceReporter._take_loop`."""
        wait = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=self._until_hanging())
            self._wake.clear()
            try:
                produced = self._snapshot_fn()
                self._take(await produced if isinstance(produced, Awaitable) else produced)
            except Exception as exc:
                wait = self._failed(exc)
                continue
            self._taken.set()
            wait = self.every

    async def _send_loop(self) -> None:
        """As :meth:`PresenceReporter._send_loop`."""
        while True:
            await self._taken.wait()
            if self._stopping:
                return
            self._taken.clear()
            wait = await self._send_kept()
            if wait is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), timeout=wait)
                if self._stopping:
                    return
                self._wake.set()

    async def _send_kept(self) -> float | None:
        while (next_ := self._next()) is not None:
            self._sending_since = time.monotonic()
            self._idle.clear()
            try:
                outcome: Report | Exception = await self._client.send(next_[1], retries=0)
            except Exception as exc:
                outcome = exc
            finally:
                self._idle.set()
            if (wait := self._settle(next_[0], outcome)) is not None:
                return wait
        return None

    async def __aenter__(self) -> AsyncPresenceReporter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
