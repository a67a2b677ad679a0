"""Invitations to a room: made with a token shown once, inspected without being used, used
by joining with the token, revoked.

The token carries 192 random bits and is stored only as its SHA-256 digest; it is found by
an index lookup of that digest, never compared itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.secrets import digest, new_secret
from sessionkeeper.errors import InvalidInput, NotFound, SessionkeeperError
from sessionkeeper.rooms import cleanup_store, invite_store, rules, store
from sessionkeeper.rooms.invite_store import Invite
from sessionkeeper.rooms.problems import (
    invite_not_found,
    invite_refused,
    room_closed,
    room_not_found,
)
from sessionkeeper.rooms.store import Room
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.sessions import SessionService
from sessionkeeper.storage.transaction import Transaction

TOKEN_PREFIX = "inv_"


@dataclass(frozen=True, slots=True)
class NewInvite:
    invite: Invite
    # Shown once, to whoever made the invitation; only its digest is kept.
    token: str


@dataclass(frozen=True, slots=True)
class InviteStatus:
    invite: Invite
    verdict: rules.InviteVerdict
    # None once the room is closed or inactive.
    minutes_until_inactive: int | None


def room_state(conn: Connection, principal: Principal, room: Room) -> rules.RoomState:
    return rules.RoomState(
        open=room.is_open,
        ended_by_cleanup=room.session.end_reason is EndReason.CLEANUP,
        last_activity=store.last_activity(conn, principal, room),
        room_timeout_ms=room.room_timeout_ms,
    )


def redeem(
    tx: Transaction, principal: Principal, room: Room, token: str, user_id: str, now: int
) -> SessionkeeperError | None:
    """Use the invitation for ``user_id`` joining ``room``; the error when it may not."""
    invite = invite_store.find(tx.conn, principal, digest(token))
    if invite is None or invite.room_id != room.id:
        return invite_not_found()
    used = invite_store.used_by(tx.conn, principal, invite.id, user_id)
    verdict = rules.judge_invite(
        invite.state, room_state(tx.conn, principal, room), now, used_by_user=used
    )
    if not verdict.valid:
        return invite_refused(verdict, room)
    if not invite_store.use(tx.conn, principal, invite.id, user_id, now):
        return invite_refused(rules.USED_UP, room)  # another process took the last use
    return None


class InviteService:
    def __init__(self, runtime: Runtime, sessions: SessionService) -> None:
        self.rt = runtime
        self.sessions = sessions

    async def create(
        self,
        principal: Principal,
        room_id: str,
        *,
        max_uses: int | None = None,
        expires_at: int | None = None,
        expires_with_room: bool = True,
    ) -> NewInvite:
        now = self.rt.clock.now_ms()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("expires_at is not in the future", field="expires_at")
        token = new_secret(TOKEN_PREFIX)
        invite = Invite(
            id=self.sessions.new_id(),
            room_id=room_id,
            max_uses=max_uses,
            uses=0,
            expires_at=expires_at,
            expires_with_room=expires_with_room,
            created_at=now,
            revoked_at=None,
        )

        def create(tx: Transaction) -> SessionkeeperError | None:
            room = cleanup_store.current_room(tx, principal, room_id, now)
            if room is None:
                return room_not_found(room_id)
            if not room.is_open:
                return room_closed(room)
            invite_store.insert(tx.conn, principal, invite, digest(token))
            return None

        problem = await self.rt.db.writer.run(create)
        if problem is not None:
            raise problem
        return NewInvite(invite, token)

    async def inspect(self, principal: Principal, token: str) -> InviteStatus:
        """What a join with this token would meet now; reads only, so it uses nothing."""
        now = self.rt.clock.now_ms()

        def read(conn: Connection) -> InviteStatus | None:
            invite = invite_store.find(conn, principal, digest(token))
            if invite is None:
                return None
            room = store.get(conn, principal, invite.room_id)
            assert room is not None  # an invitation is purged with its room
            state = room_state(conn, principal, room)
            verdict = rules.judge_invite(invite.state, state, now)
            minutes = None
            if state.open and not state.inactive(now):
                minutes = rules.minutes_until_inactive(
                    state.last_activity, state.room_timeout_ms, now
                )
            return InviteStatus(invite, verdict, minutes)

        status = await self.rt.db.reader.run(read)
        if status is None:
            raise invite_not_found()
        return status

    async def revoke(self, principal: Principal, invite_id: str) -> None:
        """Revoke the invitation; revoking it again changes nothing."""
        now = self.rt.clock.now_ms()
        found = await self.rt.db.writer.run(
            lambda tx: invite_store.revoke(tx.conn, principal, invite_id, now)
        )
        if not found:
            raise NotFound(f"no invitation '{invite_id}'", code="invite_not_found")
