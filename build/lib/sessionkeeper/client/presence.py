"""Reporting a presence source's full state: at start, on every tick, and on demand.

The periodic snapshot is the checkpoint that keeps a source's sessions alive and corrects
whatever an event missed. A snapshot is always taken fresh, right before it is sent: when a
send fails, the next attempt (sooner than the next tick, with backoff) sends the state as it
is *then*. Resending the failed body instead could apply a stale state as the present one,
ending sessions that had just started and starting ones that had just ended. For the same
reason the client's own retries are off for these requests: an attempt is never repeated
with an old body.

Stopping a reporter does not report everyone gone: if the source comes back before the
timeout its sessions continue, and if not they time out with estimated ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from sessionkeeper.client import calls
from sessionkeeper.client.errors import ServerUnavailable, SessionkeeperError
from sessionkeeper.client.models import PresenceResult, PresenceSummary
from sessionkeeper.client.retry import RetryPolicy

if TYPE_CHECKING:
    from sessionkeeper.client.async_client import AsyncClient
    from sessionkeeper.client.sync_client import Client

log = logging.getLogger("sessionkeeper.client")

Entries = Iterable[Mapping[str, Any]]
SnapshotFn = Callable[[], Entries]
AsyncSnapshotFn = Callable[[], Entries | Awaitable[Entries]]


class _Reporter:
    """The schedule both reporters keep: what the last report did, and when the next is due.

    ``compress`` sends each snapshot gzipped; ``summary`` asks for counts only in the answer
    (a :class:`PresenceSummary` in ``last_result``) instead of every entry echoed back.
    """

    def __init__(
        self, source: str, every: float, backoff: float, *, compress: bool, summary: bool
    ) -> None:
        if every <= 0:
            raise ValueError("every must be a positive number of seconds")
        self.source = source
        self.every = every
        self.compress = compress
        self.summary = summary
        self.last_result: PresenceResult | PresenceSummary | None = None
        self.last_error: Exception | None = None
        self.reports = 0  # snapshots the server accepted
        self.failures = 0  # failed attempts since the last accepted one
        self._backoff = RetryPolicy(retries=0, backoff=backoff)
        self._stopping = False

    def _call(self, entries: Entries) -> calls.Call[PresenceResult | PresenceSummary]:
        make = calls.presence_snapshot_summary if self.summary else calls.presence_snapshot
        # Either parses the answer into one of the two; Call is invariant in what it parses.
        return cast(
            "calls.Call[PresenceResult | PresenceSummary]",
            make(self.source, entries, compress=self.compress),
        )

    def _succeeded(self, result: PresenceResult | PresenceSummary) -> float:
        self.last_result = result
        self.reports += 1
        self.failures = 0
        return self.every

    def _failed(self, error: Exception) -> float:
        """Record the failure; returns the wait before the next attempt."""
        self.last_error = error
        self.failures += 1
        if isinstance(error, SessionkeeperError) and not isinstance(error, ServerUnavailable):
            # This state was refused (a bad entry, a revoked key): hurrying will not help,
            # but the next tick's state may well pass.
            log.error("presence report of %s refused: %s", self.source, error)
            return self.every
        retry_after = error.retry_after if isinstance(error, ServerUnavailable) else None
        wait = min(self.every, self._backoff.delay(self.failures - 1, retry_after))
        log.warning("presence report of %s failed, again in %.1f s: %r", self.source, wait, error)
        return wait


class PresenceReporter(_Reporter):
    """Sends ``snapshot_fn()`` as the full state of ``source`` from a background thread: at
    :meth:`start`, then every ``every`` seconds, and at once on :meth:`report_now`.

    ``snapshot_fn`` runs in that thread and returns entries such as
    ``{"user_id": "42", "kind": "game", "label": "Minecraft"}``.
    """

    def __init__(
        self,
        client: Client,
        source: str,
        snapshot_fn: SnapshotFn,
        every: float = 60,
        *,
        backoff: float | None = None,
        compress: bool = False,
        summary: bool = False,
    ) -> None:
        super().__init__(
            source,
            every,
            client.retry.backoff if backoff is None else backoff,
            compress=compress,
            summary=summary,
        )
        self._client = client
        self._snapshot_fn = snapshot_fn
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this reporter has been started already")
        self._thread = threading.Thread(
            target=self._run, name=f"sessionkeeper-presence-{self.source}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop reporting; a report in flight is let finish (within ``timeout``)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def report_now(self) -> None:
        """Report the current state as soon as possible; safe to call from any thread."""
        self._wake.set()

    def _run(self) -> None:
        wait = 0.0  # the first report goes out at once
        while True:
            self._wake.wait(wait)
            if self._stopping:
                return
            # Cleared before the snapshot is taken: a change after this point wakes us again.
            self._wake.clear()
            wait = self._report()

    def _report(self) -> float:
        try:
            entries = list(self._snapshot_fn())
            # retries=0: a failed attempt is retried by the loop, with a fresh snapshot.
            result = self._client.send(self._call(entries), retries=0)
        except Exception as exc:
            return self._failed(exc)
        return self._succeeded(result)

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
        compress: bool = False,
        summary: bool = False,
    ) -> None:
        super().__init__(
            source,
            every,
            client.retry.backoff if backoff is None else backoff,
            compress=compress,
            summary=summary,
        )
        self._client = client
        self._snapshot_fn = snapshot_fn
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("this reporter has been started already")
        self._task = asyncio.create_task(self._run(), name=f"sessionkeeper-presence-{self.source}")

    async def stop(self) -> None:
        """Stop reporting; a report in flight is let finish."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.wait([self._task])

    def report_now(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        wait = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            if self._stopping:
                return
            self._wake.clear()
            wait = await self._report()

    async def _report(self) -> float:
        try:
            produced = self._snapshot_fn()
            entries = list(await produced if isinstance(produced, Awaitable) else produced)
            result = await self._client.send(self._call(entries), retries=0)
        except Exception as exc:
            return self._failed(exc)
        return self._succeeded(result)

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
