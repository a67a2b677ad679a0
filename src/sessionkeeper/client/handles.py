"""A session tied to a ``with`` block: started on entry, heartbeated meanwhile, ended on exit —
and tracking that never breaks or blocks the app.

Each handle runs two things beside the caller's code (daemon threads, or asyncio tasks): a
*ticker* that records a heartbeat every interval, dated on the client's clock, and a *sender*
that delivers the start, the beats and the end in order (:mod:`sessionkeeper.client.outbox`
reads the answers). They are separate so that a request hanging on a dead network never stops
the beats from being recorded: the ticker only stops when the process itself stops, and that
is exactly the silence the server must see.

- Entering waits at most ``answer_wait`` seconds for the start's first answer; when the server
  cannot be reached the block runs anyway and the start (its id made here, its ``started_at``
  the moment of entry) is delivered in the background as soon as the server answers.
- Beats that could not be delivered are kept and sent later with their own times, through the
  batch endpoint, thinned so that no gap exceeds the timeout and capped at ``max_pending``. The
  server counts beats made while the session was alive even after it timed the session out
  (late evidence), so an outage or a partition costs no time.
- A beat after a real gap (the process was stalled or suspended longer than the timeout) is
  answered *closed*; the handle then starts a continuation session (``continues`` the one
  before, from that beat's time) and goes on, unless ``continue_after_gap=False``.
- Leaving records the end with its time and waits at most ``drain_wait`` seconds for what is
  undelivered; after that the sender goes on in the background until everything is delivered
  (or the process, the client or the event loop ends). Leaving never raises for a transport
  failure; it raises only an answer refusing the session (a 4xx such as ``Unauthorized``),
  and only when the block itself did not raise.
- With a spool (``Client(..., spool=directory)``) what could not be delivered is also kept on
  disk (:mod:`sessionkeeper.client.spool`), and a later process delivers it with
  ``deliver_spooled()``: a crash, a kill or an exit before the server came back costs no time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from sessionkeeper.client.chain import Cadence, StartRequest, Step
from sessionkeeper.client.evidence import now_ms
from sessionkeeper.client.models import Session
from sessionkeeper.client.outbox import DEFAULT_MAX_PENDING, Outbox
from sessionkeeper.client.protocol import new_session_id
from sessionkeeper.client.spool import Spool, SpoolFile

if TYPE_CHECKING:
    from sessionkeeper.client.async_client import AsyncClient
    from sessionkeeper.client.sync_client import Client

DEFAULT_ANSWER_WAIT_S = 2.0
DEFAULT_DRAIN_WAIT_S = 5.0

log = logging.getLogger("sessionkeeper.client")

# What earlier handles of a client learned of each kind's cadence, for a handle whose start
# finds the server unreachable. Weak, so a closed and dropped client takes it along.
_cadences: weakref.WeakKeyDictionary[object, dict[str, Cadence]] = weakref.WeakKeyDictionary()


class Done(Enum):
    DONE = "done"


DONE = Done.DONE
# Senders still delivering after their block ended; referenced so they are not collected.
_background: set[asyncio.Task[None]] = set()


class SessionOptions(TypedDict, total=False):
    """The options of :meth:`Client.session` and :meth:`AsyncClient.session`."""

    label: str | None
    attributes: Mapping[str, Any] | None
    # The session id; made here when not given, so ``s.id`` is known before the block runs.
    id: str | None
    # Seconds between heartbeats; default: the kind's policy.
    heartbeat_every: float | None
    # After a real gap, go on in a continuation session (default) or stop (False).
    continue_after_gap: bool
    # How long entering, and ``heartbeat()``, wait for the server's answer.
    answer_wait: float
    # How long leaving waits for undelivered evidence before the block goes on.
    drain_wait: float
    # The most undelivered beats kept (after thinning); beyond it the oldest are given up.
    max_pending: int


def _encodable(attributes: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """``attributes`` if JSON can carry them; else TypeError or ValueError here, in the
    caller's code, rather than later from the background, where the session would stop."""
    if attributes:
        json.dumps(attributes, allow_nan=False)
    return attributes


def spooled(spool: Spool, backoff: float) -> Iterator[tuple[SpoolFile, Outbox]]:
    """The files earlier processes left in ``spool`` (claimed as they come), each with the
    outbox restored from it, for a resumed handle to deliver."""
    return spool.orphans(partial(Outbox.restored, backoff=backoff))


class _Handle:
    """What both handles share: the options, the outbox, and what the caller may read."""

    def __init__(
        self, client: object, user_id: str, kind: str, **options: Unpack[SessionOptions]
    ) -> None:
        # Made here rather than on entry, so ``s.id`` is known before the block runs.
        self.id: str = options.get("id") or new_session_id()
        self.user_id = user_id
        self.kind = kind
        self.label = options.get("label")
        self.attributes = _encodable(options.get("attributes"))
        self.continue_after_gap = options.get("continue_after_gap", True)
        self.answer_wait = options.get("answer_wait", DEFAULT_ANSWER_WAIT_S)
        self.drain_wait = options.get("drain_wait", DEFAULT_DRAIN_WAIT_S)
        self.max_pending = options.get("max_pending", DEFAULT_MAX_PENDING)
        if self.max_pending < 1:
            raise ValueError("max_pending must keep at least one beat")
        self._heartbeat_every = options.get("heartbeat_every")
        self._client_key = client
        self._outbox: Outbox | None = None
        self._spool_file: SpoolFile | None = None
        self._leaving = False
        self._sender_done = False  # the sender has stopped, its spool file settled
        self._in_flight = False  # an attempt is waiting for its answer

    def _begin(self, backoff: float, spool: Spool | None) -> Outbox:
        if self._outbox is not None:
            raise RuntimeError("a session handle is entered once")
        if spool is not None:
            self._spool_file = spool.file(self.id)
        self._outbox = Outbox(
            StartRequest(self.user_id, self.kind, self.label, self.attributes),
            id=self.id,
            started_at=now_ms(),
            heartbeat_every=self._heartbeat_every,
            continue_after_gap=self.continue_after_gap,
            max_pending=self.max_pending,
            backoff=backoff,
            known=_cadences.get(self._client_key, {}).get(self.kind),
        )
        return self._outbox

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("the session starts when its with-block is entered")
        return self._outbox

    @property
    def session(self) -> Session:
        """The current session (the last of :attr:`sessions`) as the server last described
        it; until the server has stored it, as the client knows it (see :attr:`stored`)."""
        return self.outbox.describe(self.outbox.current)

    @property
    def sessions(self) -> tuple[Session, ...]:
        """Every session this handle made: the first (``id``), then each continuation."""
        outbox = self.outbox
        return tuple(outbox.describe(link) for link in outbox.links)

    @property
    def stored(self) -> bool:
        """Whether the server has acknowledged the start of the current session."""
        return self.outbox.current.stored

    @property
    def heartbeat_every(self) -> float | None:
        """The interval in force: the caller's, the kind's policy, or a safe guess until the
        server has told it."""
        return self._heartbeat_every if self._outbox is None else self._outbox.interval

    @property
    def closed_by_server(self) -> bool:
        """The server closed the session for good: it was ended by someone else, or it timed
        out and ``continue_after_gap`` is false."""
        return self._outbox is not None and self._outbox.outcome.closed_by_server

    @property
    def last_error(self) -> Exception | None:
        """The latest failure (a transient one is retried; see :attr:`pending`)."""
        return None if self._outbox is None else self._outbox.outcome.last_error

    @property
    def pending(self) -> int:
        """Pieces of evidence (start, beats, end) still to be delivered."""
        return 0 if self._outbox is None else self._outbox.pending

    @property
    def dropped(self) -> int:
        """Beats given up: beyond ``max_pending``, too old for the server, or refused."""
        return 0 if self._outbox is None else self._outbox.outcome.dropped

    def _progress(self) -> None:
        """After each answer: remember what was learned of the kind's cadence."""
        cadence = self.outbox.cadence
        if cadence is not None:
            _cadences.setdefault(self._client_key, {})[self.kind] = cadence

    def _next_step(self, wake: threading.Event | asyncio.Event) -> Step | Done | None:
        """The sender's next request; None when there is none now (wait for ``wake``), DONE
        when nothing will be sent any more."""
        wake.clear()  # before looking: news after this point wakes the sender again
        step = self.outbox.next_step(now_ms())
        if step is None and self.outbox.finished:
            return DONE
        return step

    def _resume(self, file: SpoolFile, outbox: Outbox) -> None:
        """Take over what an earlier process kept in ``file``: deliver, record nothing."""
        self._outbox = outbox
        self._spool_file = file
        self._leaving = True
        self.id = outbox.links[0].id

    def _spool_after(self, failed: bool) -> None:
        """After an attempt: keep the spool file up to what is undelivered. It is written
        first after a failure, then after every attempt until nothing is left."""
        file = self._spool_file
        if file is not None and (failed or file.held):
            file.sync(self.outbox.kept)

    def _beat_recorded(self) -> None:
        """The ticker recorded a beat. While an attempt waits for its answer (which, from an
        unreachable server, may take the client's whole timeout) what is recorded goes to
        the spool file at once: a crash then costs about one interval, not the timeout."""
        if self._in_flight:
            self._spool_now()

    def _spool_now(self) -> None:
        """Write what is undelivered now (leaving gave up waiting for it)."""
        if self._spool_file is not None:
            self._spool_file.sync(self.outbox.kept)

    def _sender_stopped(self) -> None:
        """The sender is done: what is left (the client was closed, the key was refused)
        stays in the spool for another client or process, whose lock it no longer holds."""
        self._spool_now()
        if self._spool_file is not None:
            self._spool_file.release()
        elif self.outbox.pending:
            log.warning("session %s: %d undelivered, the client is closed", self.id, self.pending)
        self._sender_done = True

    def _refusal(self, exc: BaseException | None) -> Exception | None:
        """The error to raise on leaving: a refusal of the session, unless the block raised."""
        return None if exc is not None else self.outbox.outcome.refusal

    def _heartbeat_done(self, at: int, mark: int) -> Callable[[], bool]:
        outbox = self.outbox
        return lambda: outbox.delivered_through(at) or outbox.outcome.failed_attempts > mark


class SessionHandle(_Handle):
    """``with client.session(...) as s:`` — see :meth:`Client.session`."""

    def __init__(
        self, client: Client, user_id: str, kind: str, **options: Unpack[SessionOptions]
    ) -> None:
        super().__init__(client, user_id, kind, **options)
        self._client = client
        self._wake = threading.Event()  # the sender: there is something to send
        self._retime = threading.Event()  # the ticker: leaving, or the interval may have changed
        self._changed = threading.Condition()

    @classmethod
    def resumed(cls, client: Client, file: SpoolFile, outbox: Outbox) -> SessionHandle:
        """A handle delivering, in the background, what an earlier process kept in ``file``
        (see :meth:`Client.deliver_spooled`)."""
        handle = cls(client, outbox.start.user_id, outbox.start.kind)
        handle._resume(file, outbox)
        handle._run("send", handle._send_loop)
        return handle

    def __enter__(self) -> SessionHandle:
        outbox = self._begin(self._client.retry.backoff, self._client.spool)
        self._run("send", self._send_loop)
        self._run("beat", self._tick_loop)
        self._wait(lambda: outbox.ready, self.answer_wait)
        if outbox.outcome.refusal is not None:
            self._leaving = True
            self._retime.set()
            raise outbox.outcome.refusal
        return self

    def heartbeat(self, *, attributes: Mapping[str, Any] | None = None) -> Session:
        """Beat now (with ``attributes`` to merge) and return the current session once the
        server has answered, or after ``answer_wait`` seconds as the client knows it. Raises
        only the refusal (a 4xx) that stopped the handle, if one did."""
        outbox = self.outbox
        mark = outbox.outcome.failed_attempts
        at = outbox.beat(now_ms(), _encodable(attributes))
        self._wake.set()
        self._wait(self._heartbeat_done(at, mark), self.answer_wait)
        if outbox.outcome.refusal is not None:
            raise outbox.outcome.refusal
        return self.session

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        outbox = self.outbox
        self._leaving = True
        outbox.end(now_ms())
        self._retime.set()
        self._wake.set()
        self._wait(lambda: outbox.finished, self.drain_wait)
        if not outbox.finished:
            self._spool_now()  # the process may end before the sender has delivered it
        refusal = self._refusal(exc)
        if refusal is not None:
            raise refusal

    def wait_delivered(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds until the sender is done (delivered, or stopped);
        whether it is."""
        self._wait(lambda: self._sender_done, timeout)
        return self._sender_done

    def _run(self, name: str, target: Callable[[], None]) -> None:
        threading.Thread(target=target, name=f"sessionkeeper-{name}-{self.id}", daemon=True).start()

    def _wait(self, done: Callable[[], bool], timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(done, timeout)

    def _tick_loop(self) -> None:
        outbox = self.outbox
        last = time.monotonic()
        while not (self._leaving or outbox.outcome.stopped):
            remaining = last + outbox.interval - time.monotonic()
            if remaining > 0:
                self._retime.wait(remaining)
                self._retime.clear()
                continue  # the interval may have changed: compute again
            outbox.beat(now_ms())
            self._beat_recorded()
            self._wake.set()
            last = time.monotonic()

    def _send_loop(self) -> None:
        outbox = self.outbox
        while (step := self._next_step(self._wake)) is not DONE:
            if step is None:
                self._wake.wait()
                continue
            self._in_flight = True
            try:
                outcome: Any = self._client.send(step.call, retries=0)
            except Exception as exc:  # whatever it is, it must not reach the app
                if self._client.is_closed:
                    break  # not a refusal: nothing more can be sent through this client
                outcome = exc
            finally:
                self._in_flight = False
            wait = outbox.settle(step, outcome)
            self._spool_after(isinstance(outcome, Exception))
            self._signal()
            time.sleep(wait)
        self._sender_stopped()
        self._signal()

    def _signal(self) -> None:
        self._progress()
        self._retime.set()
        with self._changed:
            self._changed.notify_all()


class AsyncSessionHandle(_Handle):
    """``async with aclient.session(...) as s:`` — see :meth:`AsyncClient.session`."""

    def __init__(
        self, client: AsyncClient, user_id: str, kind: str, **options: Unpack[SessionOptions]
    ) -> None:
        super().__init__(client, user_id, kind, **options)
        self._client = client
        self._wake = asyncio.Event()
        self._retime = asyncio.Event()
        self._changed = asyncio.Condition()
        self._ticker: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None

    @classmethod
    def resumed(cls, client: AsyncClient, file: SpoolFile, outbox: Outbox) -> AsyncSessionHandle:
        """A handle delivering, as a task, what an earlier process kept in ``file`` (see
        :meth:`AsyncClient.deliver_spooled`)."""
        handle = cls(client, outbox.start.user_id, outbox.start.kind)
        handle._resume(file, outbox)
        handle._start_sender()
        return handle

    async def __aenter__(self) -> AsyncSessionHandle:
        outbox = self._begin(self._client.retry.backoff, self._client.spool)
        self._start_sender()
        self._ticker = asyncio.create_task(self._tick_loop(), name=f"sessionkeeper-beat-{self.id}")
        await self._wait(lambda: outbox.ready, self.answer_wait)
        if outbox.outcome.refusal is not None:
            await self._stop_ticker()
            raise outbox.outcome.refusal
        return self

    async def heartbeat(self, *, attributes: Mapping[str, Any] | None = None) -> Session:
        """Beat now (with ``attributes`` to merge) and return the current session once the
        server has answered, or after ``answer_wait`` seconds as the client knows it. Raises
        only the refusal (a 4xx) that stopped the handle, if one did."""
        outbox = self.outbox
        mark = outbox.outcome.failed_attempts
        at = outbox.beat(now_ms(), _encodable(attributes))
        self._wake.set()
        await self._wait(self._heartbeat_done(at, mark), self.answer_wait)
        if outbox.outcome.refusal is not None:
            raise outbox.outcome.refusal
        return self.session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        outbox = self.outbox
        await self._stop_ticker()
        outbox.end(now_ms())
        self._wake.set()
        await self._wait(lambda: outbox.finished, self.drain_wait)
        if not outbox.finished:
            self._spool_now()  # the loop may end before the sender has delivered it
        refusal = self._refusal(exc)
        if refusal is not None:
            raise refusal

    async def wait_delivered(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds until the sender is done (delivered, or stopped);
        whether it is."""
        await self._wait(lambda: self._sender_done, timeout)
        return self._sender_done

    def _start_sender(self) -> None:
        self._sender = asyncio.create_task(self._send_loop(), name=f"sessionkeeper-send-{self.id}")
        _background.add(self._sender)
        self._sender.add_done_callback(_background.discard)

    async def _stop_ticker(self) -> None:
        self._leaving = True
        if self._ticker is not None:
            self._ticker.cancel()
            # wait() neither raises the task's cancellation nor hides our own.
            await asyncio.wait([self._ticker])

    async def _wait(self, done: Callable[[], bool], timeout: float) -> None:
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(done), timeout)

    async def _tick_loop(self) -> None:
        outbox = self.outbox
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not (self._leaving or outbox.outcome.stopped):
            remaining = last + outbox.interval - loop.time()
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retime.wait(), remaining)
                self._retime.clear()
                continue
            outbox.beat(now_ms())
            self._beat_recorded()
            self._wake.set()
            last = loop.time()

    async def _send_loop(self) -> None:
        outbox = self.outbox
        while (step := self._next_step(self._wake)) is not DONE:
            if step is None:
                await self._wake.wait()
                continue
            self._in_flight = True
            try:
                outcome: Any = await self._client.send(step.call, retries=0)
            except Exception as exc:  # whatever it is, it must not reach the app
                if self._client.is_closed:
                    break  # not a refusal: nothing more can be sent through this client
                outcome = exc
            finally:
                self._in_flight = False
            wait = outbox.settle(step, outcome)
            self._spool_after(isinstance(outcome, Exception))
            await self._signal()
            await asyncio.sleep(wait)
        self._sender_stopped()
        await self._signal()

    async def _signal(self) -> None:
        self._progress()
        self._retime.set()
        async with self._changed:
            self._changed.notify_all()
