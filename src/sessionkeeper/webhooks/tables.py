"""Webhook endpoints and their deliveries (the outbox).

A delivery row is written in the same transaction as the change it reports (an in-transaction
change-event subscriber), so there is one exactly when the change committed, and it survives
any restart until it is delivered or given up. Its ``id`` is the ``webhook-id`` header, the
same on every attempt; its ``payload`` is the exact body, serialised once, so every attempt
signs and sends the same bytes.
"""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.storage.tables import BigIntId, metadata

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False, index=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("events", sa.JSON, nullable=False),
    sa.Column("description", sa.String(256), nullable=True),
    # The HMAC key must be kept as it is to sign with it; it is never sent back after creation.
    sa.Column("secret", sa.String(128), nullable=False),
    # After a rotation the old secret signs too, until previous_secret_expires_at.
    sa.Column("previous_secret", sa.String(128), nullable=True),
    sa.Column("previous_secret_expires_at", sa.BigInteger, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("disabled_reason", sa.String(256), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    # Deleted endpoints stay until the prune job has removed their deliveries.
    sa.Column("deleted_at", sa.BigInteger, nullable=True),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("seq", BigIntId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("endpoint_id", sa.String(32), sa.ForeignKey("webhook_endpoints.id"), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # Attempts started. Also the claim's fencing token: only the claimer that raised it to
    # this value may record the attempt's outcome.
    sa.Column("attempts", sa.Integer, nullable=False),
    # When the next attempt may start; while an attempt runs, when it is presumed lost.
    sa.Column("next_attempt_at", sa.BigInteger, nullable=True),
    sa.Column("last_attempt_at", sa.BigInteger, nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(512), nullable=True),
    sa.Column("delivered_at", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_webhook_deliveries_endpoint_seq", "endpoint_id", "seq"),
    # The delivery job reads only this: pending rows by due time. Its size is the backlog.
    sa.Index(
        "ix_webhook_deliveries_pending_due",
        "next_attempt_at",
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    ),
    sa.Index("ix_webhook_deliveries_created", "created_at"),
)
