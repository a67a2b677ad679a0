"""SQL for invitations: found by the digest of their token, used once per user."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sessionkeeper.domain.principal import Principal
from sessionkeeper.rooms.rules import InviteState
from sessionkeeper.rooms.tables import room_invite_uses as uses
from sessionkeeper.rooms.tables import room_invites as t
from sessionkeeper.storage.dialect import insert_ignoring_conflicts
from sessionkeeper.storage.scope import visible_to


@dataclass(frozen=True, slots=True)
class Invite:
    id: str
    room_id: str
    max_uses: int | None
    uses: int
    expires_at: int | None
    expires_with_room: bool
    created_at: int
    revoked_at: int | None

    @property
    def state(self) -> InviteState:
        return InviteState(
            max_uses=self.max_uses,
            uses=self.uses,
            expires_at=self.expires_at,
            expires_with_room=self.expires_with_room,
            revoked=self.revoked_at is not None,
        )


def to_invite(row: RowMapping) -> Invite:
    return Invite(
        id=row["id"],
        room_id=row["room_id"],
        max_uses=row["max_uses"],
        uses=row["uses"],
        expires_at=row["expires_at"],
        expires_with_room=bool(row["expires_with_room"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def insert(conn: Connection, principal: Principal, invite: Invite, token_hash: str) -> None:
    conn.execute(
        t.insert().values(
            tenant_id=principal.tenant_id,
            id=invite.id,
            room_id=invite.room_id,
            token_hash=token_hash,
            max_uses=invite.max_uses,
            uses=invite.uses,
            expires_at=invite.expires_at,
            expires_with_room=invite.expires_with_room,
            created_at=invite.created_at,
            revoked_at=None,
        )
    )


def find(conn: Connection, principal: Principal, token_hash: str) -> Invite | None:
    """The invitation whose token has this digest, if it is the principal's tenant's: found
    by an index lookup of the digest, never by comparing tokens."""
    row = (
        conn.execute(sa.select(t).where(visible_to(t, principal), t.c.token_hash == token_hash))
        .mappings()
        .first()
    )
    return None if row is None else to_invite(row)


def used_by(conn: Connection, principal: Principal, invite_id: str, user_id: str) -> bool:
    stmt = sa.select(uses.c.user_id).where(
        visible_to(uses, principal), uses.c.invite_id == invite_id, uses.c.user_id == user_id
    )
    return conn.execute(stmt).first() is not None


def use(conn: Connection, principal: Principal, invite_id: str, user_id: str, at: int) -> bool:
    """Spend a use on ``user_id``, unless it has one already; False when none is left.

    The count moves by a conditional UPDATE, so two joins racing for the last use (from two
    processes) cannot both get it."""
    if used_by(conn, principal, invite_id, user_id):
        return True
    spent = conn.execute(
        t.update()
        .where(
            visible_to(t, principal),
            t.c.id == invite_id,
            sa.or_(t.c.max_uses.is_(None), t.c.uses < t.c.max_uses),
        )
        .values(uses=t.c.uses + 1)
    ).rowcount
    if spent:
        conn.execute(
            insert_ignoring_conflicts(conn, uses).values(
                tenant_id=principal.tenant_id, invite_id=invite_id, user_id=user_id, used_at=at
            )
        )
    return bool(spent)


def revoke(conn: Connection, principal: Principal, invite_id: str, at: int) -> bool:
    """Revoke the invitation; False when the tenant has none of that id. Repeatable."""
    found = conn.execute(
        sa.select(t.c.revoked_at).where(visible_to(t, principal), t.c.id == invite_id)
    ).first()
    if found is None:
        return False
    conn.execute(
        t.update()
        .where(visible_to(t, principal), t.c.id == invite_id, t.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return True
