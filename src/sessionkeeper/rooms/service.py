"""Rooms and their participants: create, read, list, join, presence, leave, end.

Every write locks the room's row first and closes the room if it turned out inactive, so the
outcome never depends on when the cleanup last ran; reads show the room and its participants
as the rules have them at the time of the read (``rules.as_read``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.lifecycle import Lifecycle, Status
from sessionkeeper.domain.listing import Cursor
from sessionkeeper.domain.policy import resolve_policy
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import NewSession, Session, start_digest
from sessionkeeper.errors import Conflict, SessionkeeperError
from sessionkeeper.rooms import cleanup_store, invites, rules, store
from sessionkeeper.rooms.cleanup import Cleaner
from sessionkeeper.rooms.invites import InviteService
from sessionkeeper.rooms.problems import (
    not_a_participant,
    not_present,
    room_closed,
    room_not_found,
)
from sessionkeeper.rooms.store import Room, RoomFilter
from sessionkeeper.rooms.subscribers import RoomMetrics, room_metrics
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.sessions import SessionService
from sessionkeeper.storage import heartbeats
from sessionkeeper.storage import policies as policy_store
from sessionkeeper.storage.transaction import Transaction


@dataclass(frozen=True, slots=True)
class RoomRequest:
    kind: str
    created_by: str
    id: str | None = None
    label: str | None = None
    attributes: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room as a read shows it: its state at the time of the read and, when asked for,
    its participants."""

    room: Room
    state: Lifecycle
    last_activity_at: int
    participants: list[rules.Participant] | None = None

    @property
    def inactive_at(self) -> int | None:
        if not self.state.is_active:
            return None
        return rules.inactive_at(self.last_activity_at, self.room.room_timeout_ms)


@dataclass(frozen=True, slots=True)
class ParticipantView:
    room: Room
    participant: rules.Participant


@dataclass(slots=True)
class _Outcome:
    """What a write op found: the error to raise once it committed (the op's own writes, such
    as closing an inactive room, stand), or whether a new attendance began."""

    problem: SessionkeeperError | None = None
    created: bool = False


# What a write does to a participant once its room and latest attendance were found.
Act = Callable[[Transaction, Room, Session], SessionkeeperError | None]


class RoomService:
    def __init__(self, runtime: Runtime, sessions: SessionService) -> None:
        self.rt = runtime
        self.sessions = sessions

    def _view(self, conn: Connection, principal: Principal, room: Room, now: int) -> RoomView:
        found = store.attendances(conn, principal, room.id)
        activity = rules.last_activity(room.last_activity_at, (s.last_seen_at for s in found))
        state, participants = rules.as_read(
            room.session.lifecycle,
            activity,
            room.room_timeout_ms,
            [(s.user_id, s.id, s.lifecycle) for s in found],
            now,
        )
        return RoomView(room, state, activity, participants)

    async def create(self, principal: Principal, request: RoomRequest) -> tuple[RoomView, bool]:
        """Create a room; the same id with the same body again is a retry (not created)."""
        now = self.rt.clock.now_ms()
        body_digest = start_digest(
            {
                "room": True,
                "kind": request.kind,
                "label": request.label,
                "attributes": request.attributes or {},
                "created_by": request.created_by,
            }
        )
        self.sessions.check_new_id(request.id)
        room_id = request.id or self.sessions.new_id()

        def create(tx: Transaction) -> tuple[bool, Room | None]:
            # Read in the transaction, like a session's start: no process works from a
            # policy changed elsewhere a moment ago.
            policy = resolve_policy(policy_store.load(tx.conn, principal.tenant_id), request.kind)
            timing = rules.participant_timing(policy.presence_interval_ms)
            new = NewSession(
                id=room_id,
                user_id=request.created_by,
                kind=request.kind,
                label=request.label,
                attributes=request.attributes or {},
                started_at=now,
                timeout_ms=rules.ROOM_SESSION_TIMEOUT_MS,
                grace_ms=timing.grace_ms,
                interval_ms=policy.presence_interval_ms,
                start_digest=body_digest,
            )
            return store.create(
                tx,
                principal,
                new,
                presence_interval_ms=policy.presence_interval_ms,
                room_timeout_ms=policy.room_timeout_ms,
                now=now,
            )

        created, room = await self.rt.db.writer.run(create)
        if room is None or (not created and room.session.start_digest != body_digest):
            raise Conflict(
                f"'{room_id}' exists with a different body; use a new id",
                session=None if room is None else room.session,
                code="room_exists",
            )
        return await self.get(principal, room_id), created

    async def get(self, principal: Principal, room_id: str) -> RoomView:
        now = self.rt.clock.now_ms()

        def read(conn: Connection) -> RoomView | None:
            room = store.get(conn, principal, room_id)
            return None if room is None else self._view(conn, principal, room, now)

        view = await self.rt.db.reader.run(read)
        if view is None:
            raise room_not_found(room_id)
        return view

    async def list(
        self, principal: Principal, where: RoomFilter, *, limit: int, after: Cursor | None
    ) -> tuple[list[RoomView], Cursor | None]:
        """A page of rooms, newest first, and the cursor of the next page (None at the end)."""
        now = self.rt.clock.now_ms()
        found = await self.rt.db.reader.run(
            lambda conn: store.list_rooms(
                conn, principal, where, now=now, limit=limit + 1, after=after
            )
        )
        page = found[:limit]
        views = []
        for room in page:
            activity = rules.last_activity(room.last_activity_at)
            state = rules.close_inactive(
                room.session.lifecycle, activity, room.room_timeout_ms, now
            )
            views.append(RoomView(room, state, activity))
        more = len(found) > limit and page
        return views, Cursor(page[-1].session.started_at, page[-1].id) if more else None

    async def join(
        self,
        principal: Principal,
        room_id: str,
        user_id: str,
        *,
        at: int | None = None,
        invite_token: str | None = None,
    ) -> tuple[ParticipantView, bool]:
        """Join the room; returns the participant and whether a new attendance began (a
        join while present continues the attendance)."""
        joined_at = self.sessions.client_time(at, "at")
        now = self.rt.clock.now_ms()
        attendance_id = self.sessions.new_id()

        def join(tx: Transaction) -> _Outcome:
            room = cleanup_store.current_room(tx, principal, room_id, now)
            if room is None:
                return _Outcome(problem=room_not_found(room_id))
            if invite_token is not None:
                problem = invites.redeem(tx, principal, room, invite_token, user_id, now)
                if problem is not None:
                    return _Outcome(problem=problem)
            if not room.is_open:
                return _Outcome(problem=room_closed(room))
            # Nobody joins a room before it existed (a join's clock may run behind the
            # room's creator's).
            at = max(joined_at, room.session.started_at)
            created = True
            latest = store.latest_attendance(tx.conn, principal, room_id, user_id)
            if latest is not None and latest.status is Status.ACTIVE:
                outcome, _ = heartbeats.heartbeat(tx, principal, latest.id, at=at, now=now)
                # Present still: the same attendance goes on; timed out just now: a new one.
                created = outcome != "ok"
            if created:
                store.join(
                    tx, principal, room, user_id, attendance_id=attendance_id, at=at, now=now
                )
            else:
                store.touch(tx.conn, principal, room_id, at)
            return _Outcome(created=created)

        outcome = await self.rt.db.writer.run(join)
        return await self._participant(principal, room_id, user_id, outcome), outcome.created

    def _participant_op(
        self, principal: Principal, room_id: str, user_id: str, now: int, act: Act
    ) -> Callable[[Transaction], _Outcome]:
        def op(tx: Transaction) -> _Outcome:
            room = cleanup_store.current_room(tx, principal, room_id, now)
            if room is None:
                return _Outcome(problem=room_not_found(room_id))
            latest = store.latest_attendance(tx.conn, principal, room_id, user_id)
            if latest is None:
                return _Outcome(problem=not_a_participant(room_id, user_id))
            return _Outcome(problem=act(tx, room, latest))

        return op

    async def presence(
        self, principal: Principal, room_id: str, user_id: str, *, at: int | None = None
    ) -> ParticipantView:
        """The participant is still here. Once its attendance closed (it left, or timed out)
        the answer is 409 ``not_present`` with that attendance: join again."""
        seen_at = self.sessions.client_time(at, "at")
        now = self.rt.clock.now_ms()

        def presence(tx: Transaction, room: Room, latest: Session) -> SessionkeeperError | None:
            if not room.is_open:
                return room_closed(room)
            outcome, session = heartbeats.heartbeat(tx, principal, latest.id, at=seen_at, now=now)
            if outcome != "ok":
                return not_present(room_id, user_id, session or latest)
            store.touch(tx.conn, principal, room_id, seen_at)
            return None

        op = self._participant_op(principal, room_id, user_id, now, presence)
        return await self._participant(principal, room_id, user_id, await self.rt.db.writer.run(op))

    async def leave(
        self, principal: Principal, room_id: str, user_id: str, *, at: int | None = None
    ) -> ParticipantView:
        """The participant leaves at ``at``; leaving again changes nothing. A leave that
        comes after its attendance timed out but names a time before the deadline is late
        evidence, as any late end: the attendance ends there, exactly (amended)."""
        left_at = self.sessions.client_time(at, "at")
        now = self.rt.clock.now_ms()

        def leave(tx: Transaction, room: Room, latest: Session) -> SessionkeeperError | None:
            store.leave(tx, principal, room_id, latest.id, at=left_at, now=now)
            return None

        op = self._participant_op(principal, room_id, user_id, now, leave)
        return await self._participant(principal, room_id, user_id, await self.rt.db.writer.run(op))

    async def end(self, principal: Principal, room_id: str, *, at: int | None = None) -> RoomView:
        """End the room and every attendance in it at ``at``; ending again changes nothing.
        A room already inactive at ``at`` is closed by the cleanup's rule instead."""
        end_at = self.sessions.client_time(at, "at")
        now = self.rt.clock.now_ms()

        def end(tx: Transaction) -> bool:
            room = cleanup_store.current_room(tx, principal, room_id, end_at)
            if room is not None and room.is_open:
                # Not before the room's last activity: its participants were seen then (as
                # a session's end is never before its last heartbeat).
                at = max(end_at, store.last_activity(tx.conn, principal, room))
                store.end(tx, principal, room_id, at=at, now=now)
            return room is not None

        if not await self.rt.db.writer.run(end):
            raise room_not_found(room_id)
        return await self.get(principal, room_id)

    async def _participant(
        self, principal: Principal, room_id: str, user_id: str, outcome: _Outcome
    ) -> ParticipantView:
        if outcome.problem is not None:
            raise outcome.problem
        now = self.rt.clock.now_ms()

        def read(conn: Connection) -> ParticipantView:
            room = store.get(conn, principal, room_id)
            assert room is not None  # rooms are never deleted while open
            found = store.attendances(conn, principal, room_id, user_id)
            segments = [
                (s.user_id, rules.Segment(s.id, lifecycle.sweep(s.lifecycle, now))) for s in found
            ]
            return ParticipantView(room, rules.participants(segments)[0])

        return await self.rt.db.reader.run(read)


@dataclass
class Rooms:
    """The rooms feature's services in one process."""

    runtime: Runtime
    rooms: RoomService
    invites: InviteService
    cleaner: Cleaner
    metrics: RoomMetrics

    @classmethod
    def build(cls, services: Services) -> Rooms:
        runtime = services.runtime
        return cls(
            runtime=runtime,
            rooms=RoomService(runtime, services.sessions),
            invites=InviteService(runtime, services.sessions),
            cleaner=Cleaner(runtime),
            metrics=room_metrics(runtime.metrics.registry),
        )
