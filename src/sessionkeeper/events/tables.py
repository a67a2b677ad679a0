"""The events table: one row per stored event, ``event_id`` unique per tenant."""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.storage.tables import BigIntId, metadata

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", BigIntId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=True),
    sa.Column("user_id", sa.String(256), nullable=False),
    # The session's kind when the event was stored ('' without a session): rollups count
    # events per kind without joining sessions.
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("properties", sa.JSON, nullable=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("tenant_id", "event_id"),
    # Listings newest first, a day's aggregates and retention all read a range of ``at``.
    sa.Index("ix_events_tenant_at", "tenant_id", "at"),
    sa.Index("ix_events_tenant_session_at", "tenant_id", "session_id", "at"),
    sa.Index("ix_events_tenant_user_at", "tenant_id", "user_id", "at"),
)
