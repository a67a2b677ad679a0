"""A room for ``with`` blocks: ``with client.room(room_id).join(user_id) as p:``.

The participant joins on entry, sends presence in the background at the room's presence
interval (or ``presence_every``), and leaves on exit, also when the block raises. When
presence answers 409 ``not_present`` (the attendance timed out, say after the network was
gone for longer than the participant timeout, or another tab left), the handle joins again:
a new segment begins and ``rejoins`` counts it. When the room closes the handle stops and
sets ``room_closed``; leaving a closed room is not needed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

from sessionkeeper.client.beats import BackgroundBeats
from sessionkeeper.client.errors import Conflict
from sessionkeeper.client.room_models import Invite, Participant, Room

if TYPE_CHECKING:
    from sessionkeeper.client.async_client import AsyncClient
    from sessionkeeper.client.sync_client import Client

log = logging.getLogger("sessionkeeper.client")

# How long leaving the block waits for a presence in flight (its thread is a daemon).
JOIN_TIMEOUT_S = 1.0


class _Participation(BackgroundBeats[Participant]):
    """What the sync and the async handle share: what the answers have told."""

    def __init__(
        self,
        room_id: str,
        user_id: str,
        invite_token: str | None,
        presence_every: float | None,
    ) -> None:
        super().__init__()
        self.room_id = room_id
        self.user_id = user_id
        self.invite_token = invite_token
        self.presence_every = presence_every
        self.room_closed = False
        self.rejoins = 0

    @property
    def participant(self) -> Participant:
        """The participant as the server last described it."""
        if self._latest is None:
            raise RuntimeError("the participant joins when its with-block is entered")
        return self._latest

    @property
    def beating(self) -> bool:
        return not (self._leaving or self.room_closed)

    def _joined(self, participant: Participant) -> float:
        self._answered(participant)
        return self.presence_every or participant.presence_interval_s

    def _failed(self, error: Exception) -> str:
        """What a failed presence calls for: ``rejoin``, ``retry`` or ``stop``."""
        if isinstance(error, Conflict) and error.code == "not_present":
            return "stop" if self._leaving else "rejoin"
        if isinstance(error, Conflict) and error.code == "room_closed":
            with self._lock:
                self.room_closed = True
            log.info("room %s closed: %s", self.room_id, error.detail)
            return "stop"
        return "retry" if self._goes_on_after(error, f"room {self.room_id}") else "stop"


class ParticipantHandle(_Participation):
    """``with client.room(room_id).join(user_id) as p:`` — see the module's docstring."""

    def __init__(
        self,
        client: Client,
        room_id: str,
        user_id: str,
        *,
        invite_token: str | None = None,
        presence_every: float | None = None,
    ) -> None:
        super().__init__(room_id, user_id, invite_token, presence_every)
        self._client = client
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _join(self) -> float:
        joined = self._client.join_room(self.room_id, self.user_id, invite_token=self.invite_token)
        return self._joined(joined)

    def __enter__(self) -> ParticipantHandle:
        every = self._join()
        self._thread = threading.Thread(
            target=self._run,
            args=(every,),
            name=f"sessionkeeper-presence-{self.room_id}",
            daemon=True,
        )
        self._thread.start()
        return self

    def _run(self, every: float) -> None:
        while not self._stop.wait(every) and self.beating:
            try:
                self._answered(self._client.presence(self.room_id, self.user_id))
            except Exception as exc:
                match self._failed(exc):
                    case "stop":
                        return
                    case "rejoin":
                        every = self._rejoin(every)

    def _rejoin(self, every: float) -> float:
        try:
            every = self._join()
        except Exception as exc:
            if self._failed(exc) == "stop":
                self._stop.set()
            return every
        self.rejoins += 1
        return every

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
        if self.room_closed:
            return
        with self._goodbye(exc, f"room {self.room_id}"):
            self._latest = self._client.leave_room(self.room_id, self.user_id)


class AsyncParticipantHandle(_Participation):
    """``async with aclient.room(room_id).join(user_id) as p:``: presence in an asyncio task."""

    def __init__(
        self,
        client: AsyncClient,
        room_id: str,
        user_id: str,
        *,
        invite_token: str | None = None,
        presence_every: float | None = None,
    ) -> None:
        super().__init__(room_id, user_id, invite_token, presence_every)
        self._client = client
        self._task: asyncio.Task[None] | None = None

    async def _join(self) -> float:
        joined = await self._client.join_room(
            self.room_id, self.user_id, invite_token=self.invite_token
        )
        return self._joined(joined)

    async def __aenter__(self) -> AsyncParticipantHandle:
        every = await self._join()
        self._task = asyncio.create_task(
            self._run(every), name=f"sessionkeeper-presence-{self.room_id}"
        )
        return self

    async def _run(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            if not self.beating:
                return
            try:
                self._answered(await self._client.presence(self.room_id, self.user_id))
            except Exception as exc:
                match self._failed(exc):
                    case "stop":
                        return
                    case "rejoin":
                        every = await self._rejoin(every)

    async def _rejoin(self, every: float) -> float:
        try:
            every = await self._join()
        except Exception as exc:
            if self._failed(exc) == "stop":
                self._leave()
            return every
        self.rejoins += 1
        return every

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._leave()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        if self.room_closed:
            return
        with self._goodbye(exc, f"room {self.room_id}"):
            self._latest = await self._client.leave_room(self.room_id, self.user_id)


@dataclass(frozen=True, slots=True)
class RoomRef:
    """One room of a :class:`Client`: ``client.room(room_id)``."""

    client: Client
    id: str

    def join(
        self, user_id: str, *, invite_token: str | None = None, presence_every: float | None = None
    ) -> ParticipantHandle:
        return ParticipantHandle(
            self.client, self.id, user_id, invite_token=invite_token, presence_every=presence_every
        )

    def get(self) -> Room:
        return self.client.get_room(self.id)

    def end(self, *, at: datetime | None = None) -> Room:
        return self.client.end_room(self.id, at=at)

    def invite(
        self,
        *,
        max_uses: int | None = None,
        expires_at: datetime | None = None,
        expires_with_room: bool = True,
    ) -> Invite:
        return self.client.invite(
            self.id, max_uses=max_uses, expires_at=expires_at, expires_with_room=expires_with_room
        )


@dataclass(frozen=True, slots=True)
class AsyncRoomRef:
    """One room of an :class:`AsyncClient`: ``aclient.room(room_id)``."""

    client: AsyncClient
    id: str

    def join(
        self, user_id: str, *, invite_token: str | None = None, presence_every: float | None = None
    ) -> AsyncParticipantHandle:
        return AsyncParticipantHandle(
            self.client, self.id, user_id, invite_token=invite_token, presence_every=presence_every
        )

    async def get(self) -> Room:
        return await self.client.get_room(self.id)

    async def end(self, *, at: datetime | None = None) -> Room:
        return await self.client.end_room(self.id, at=at)

    async def invite(
        self,
        *,
        max_uses: int | None = None,
        expires_at: datetime | None = None,
        expires_with_room: bool = True,
    ) -> Invite:
        return await self.client.invite(
            self.id, max_uses=max_uses, expires_at=expires_at, expires_with_room=expires_with_room
        )
