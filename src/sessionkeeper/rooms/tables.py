"""The rooms' own tables, on the shared metadata. A room is a row of ``sessions`` too; these
hold what only a room has: its timing, its liveness for the cleanup, its invitations."""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.storage.tables import metadata

rooms = sa.Table(
    "rooms",
    metadata,
    sa.Column("tenant_id", sa.Integer, primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    # From the kind's policy when the room was made (a policy change rewrites open rooms).
    sa.Column("presence_interval_ms", sa.BigInteger, nullable=False),
    sa.Column("room_timeout_ms", sa.BigInteger, nullable=False),
    # The latest participant activity the rooms API saw (a join, presence, a leave).
    sa.Column("last_activity_at", sa.BigInteger, nullable=False),
    # last_activity_at + room_timeout_ms while the room is open, NULL once it is closed: the
    # cleanup reads only the index on it, so its cost follows the inactive rooms.
    sa.Column("inactive_at", sa.BigInteger, nullable=True),
    # When a closed room ended; the purge of old rooms reads the index on it.
    sa.Column("closed_at", sa.BigInteger, nullable=True),
    sa.ForeignKeyConstraint(["tenant_id", "id"], ["sessions.tenant_id", "sessions.id"]),
    sa.Index(
        "ix_rooms_inactive_at",
        "inactive_at",
        sqlite_where=sa.text("inactive_at IS NOT NULL"),
        postgresql_where=sa.text("inactive_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_rooms_closed_at",
        "closed_at",
        sqlite_where=sa.text("closed_at IS NOT NULL"),
        postgresql_where=sa.text("closed_at IS NOT NULL"),
    ),
)

room_invites = sa.Table(
    "room_invites",
    metadata,
    sa.Column("tenant_id", sa.Integer, primary_key=True),
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("room_id", sa.String(64), nullable=False),
    # SHA-256 of the token; the token itself is shown once and never stored.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("max_uses", sa.Integer, nullable=True),
    sa.Column("uses", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    sa.Column("expires_with_room", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"]),
    sa.Index("ix_room_invites_room", "tenant_id", "room_id"),
)

# Who joined through an invite: a use is one user, so a retried or repeated join through the
# same invite by the same user spends nothing more.
room_invite_uses = sa.Table(
    "room_invite_uses",
    metadata,
    sa.Column("tenant_id", sa.Integer, primary_key=True),
    sa.Column("invite_id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(256), primary_key=True),
    sa.Column("used_at", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant_id", "invite_id"], ["room_invites.tenant_id", "room_invites.id"]
    ),
)

# What the last cleanup runs did for each tenant (the record of the run itself, in job_runs,
# is shared by all tenants and carries no tenant's counts).
room_cleanup_counts = sa.Table(
    "room_cleanup_counts",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    # Two runs at most: the last, and the one tenants see until it is shown.
    sa.Column("run_started_at", sa.BigInteger, primary_key=True),
    sa.Column("closed", sa.Integer, nullable=False),
    sa.Column("purged", sa.Integer, nullable=False),
)
