"""A session tied to a ``with`` block: started on entry, heartbeated meanwhile, ended on exit.

The heartbeats run beside the caller's code (a daemon thread, or an asyncio task) and must
never break it: a transient failure is retried by the client and then simply waits for the
next beat, since one missed beat is far from a timeout. A 409 means the server has closed the
session (it timed out while this process was stalled); the handle then stops beating and
keeps the closed session for the caller to look at, since beating a closed session again
cannot reopen it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from sessionkeeper.client.errors import Conflict, ServerUnavailable, SessionkeeperError
from sessionkeeper.client.models import Policies, Session
from sessionkeeper.client.protocol import TIMEOUT_HEARTBEATS, new_session_id

if TYPE_CHECKING:
    from sessionkeeper.client.async_client import AsyncClient
    from sessionkeeper.client.sync_client import Client

log = logging.getLogger("sessionkeeper.client")

# How long leaving the block waits for a heartbeat in flight. Its answer no longer matters
# once the session ends, so a slow one is left to finish on its own (the thread is a daemon).
JOIN_TIMEOUT_S = 1.0


def heartbeat_interval(policies: Policies | None, session: Session) -> float:
    """The policy's interval for the session's kind.

    Without the policies (an ingest key may not read them), the session's own timeout tells:
    beating ``TIMEOUT_HEARTBEATS`` times per timeout is what the default policy does.
    """
    policy = None if policies is None else policies.for_kind(session.kind)
    if policy is not None:
        return policy.heartbeat_interval_s
    if session.expires_at is None:  # closed already: it will not be beaten at all
        return 1.0
    timeout_s = (session.expires_at - session.last_seen_at).total_seconds()
    return max(1.0, timeout_s / TIMEOUT_HEARTBEATS)


class SessionOptions(TypedDict, total=False):
    label: str | None
    attributes: Mapping[str, Any] | None
    id: str | None
    heartbeat_every: float | None


class _Handle:
    """What the sync and the async handle share: the request, and what beats have told."""

    def __init__(
        self,
        user_id: str,
        kind: str,
        *,
        label: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        id: str | None = None,
        heartbeat_every: float | None = None,
    ) -> None:
        # Made here rather than by the start call, so ``s.id`` is known before the block runs.
        self.id = id or new_session_id()
        self.user_id = user_id
        self.kind = kind
        self.label = label
        self.attributes = attributes
        self.heartbeat_every = heartbeat_every
        self.closed_by_server = False
        self.last_error: Exception | None = None
        self._session: Session | None = None
        self._leaving = False
        self._lock = threading.Lock()

    @property
    def session(self) -> Session:
        """The session as the server last described it."""
        if self._session is None:
            raise RuntimeError("the session starts when its with-block is entered")
        return self._session

    @property
    def beating(self) -> bool:
        return not (self._leaving or self.closed_by_server)

    def _started(self, session: Session) -> None:
        self._session = session
        # A start repeated with the id of a session closed meanwhile returns that session.
        self.closed_by_server = not session.is_active

    def _beat_answered(self, session: Session) -> None:
        with self._lock:
            if not self._leaving:
                self._session = session

    def _beat_failed(self, error: Exception) -> bool:
        """Record a failed heartbeat; returns whether beating should go on."""
        with self._lock:
            if self._leaving:
                return False
            if isinstance(error, Conflict):
                self.closed_by_server = True
                if error.session is not None:
                    self._session = error.session
                log.warning("session %s was closed by the server: %s", self.id, error.detail)
                return False
            self.last_error = error
        if isinstance(error, SessionkeeperError) and not isinstance(error, ServerUnavailable):
            # Not found, unauthorized, forbidden: every further beat would get the same.
            log.error("heartbeats for session %s stop: %s", self.id, error)
            return False
        log.warning("heartbeat for session %s failed, trying again later: %r", self.id, error)
        return True

    def _leave(self) -> None:
        with self._lock:
            self._leaving = True


class SessionHandle(_Handle):
    """``with client.session(...) as s:`` — see :meth:`Client.session`."""

    def __init__(
        self, client: Client, user_id: str, kind: str, **options: Unpack[SessionOptions]
    ) -> None:
        super().__init__(user_id, kind, **options)
        self._client = client
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SessionHandle:
        session = self._client.start(
            self.user_id, self.kind, label=self.label, attributes=self.attributes, id=self.id
        )
        self._started(session)
        if self.heartbeat_every is None:
            self.heartbeat_every = heartbeat_interval(self._policies(), session)
        if self.beating:
            self._thread = threading.Thread(
                target=self._run, name=f"sessionkeeper-heartbeat-{self.id}", daemon=True
            )
            self._thread.start()
        return self

    def _policies(self) -> Policies | None:
        try:
            return self._client.policies()
        except SessionkeeperError as exc:
            # The session has started; failing here would leave it to time out.
            log.warning("policies unreadable (%s); deriving the heartbeat interval", exc)
            return None

    def _run(self) -> None:
        assert self.heartbeat_every is not None
        while not self._stop.wait(self.heartbeat_every) and self.beating:
            try:
                session = self._client.heartbeat(self.id)
            except Exception as exc:
                if not self._beat_failed(exc):
                    return
            else:
                self._beat_answered(session)

    def heartbeat(self, *, attributes: Mapping[str, Any] | None = None) -> Session:
        """Beat now. A closed session is recorded (``closed_by_server``) and returned."""
        try:
            session = self._client.heartbeat(self.id, attributes=attributes)
        except Conflict as exc:
            self._beat_failed(exc)
            return self.session
        self._beat_answered(session)
        return session

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._leave()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
        if self.closed_by_server:
            return
        try:
            self._session = self._client.end(self.id, reason="client")
        except Exception:
            if exc is None:
                raise
            # The block's own error is the one to see; this one goes to the log.
            log.exception("could not end session %s", self.id)


class AsyncSessionHandle(_Handle):
    """``async with aclient.session(...) as s:`` — see :meth:`AsyncClient.session`."""

    def __init__(
        self, client: AsyncClient, user_id: str, kind: str, **options: Unpack[SessionOptions]
    ) -> None:
        super().__init__(user_id, kind, **options)
        self._client = client
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncSessionHandle:
        session = await self._client.start(
            self.user_id, self.kind, label=self.label, attributes=self.attributes, id=self.id
        )
        self._started(session)
        if self.heartbeat_every is None:
            self.heartbeat_every = heartbeat_interval(await self._policies(), session)
        if self.beating:
            self._task = asyncio.create_task(self._run(), name=f"sessionkeeper-heartbeat-{self.id}")
        return self

    async def _policies(self) -> Policies | None:
        try:
            return await self._client.policies()
        except SessionkeeperError as exc:
            log.warning("policies unreadable (%s); deriving the heartbeat interval", exc)
            return None

    async def _run(self) -> None:
        assert self.heartbeat_every is not None
        while True:
            await asyncio.sleep(self.heartbeat_every)
            if not self.beating:
                return
            try:
                session = await self._client.heartbeat(self.id)
            except Exception as exc:
                if not self._beat_failed(exc):
                    return
            else:
                self._beat_answered(session)

    async def heartbeat(self, *, attributes: Mapping[str, Any] | None = None) -> Session:
        """Beat now. A closed session is recorded (``closed_by_server``) and returned."""
        try:
            session = await self._client.heartbeat(self.id, attributes=attributes)
        except Conflict as exc:
            self._beat_failed(exc)
            return self.session
        self._beat_answered(session)
        return session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._leave()
        if self._task is not None:
            self._task.cancel()
            # wait() neither raises the task's cancellation nor hides our own.
            await asyncio.wait([self._task])
        if self.closed_by_server:
            return
        try:
            self._session = await self._client.end(self.id, reason="client")
        except Exception:
            if exc is None:
                raise
            log.exception("could not end session %s", self.id)
