"""Tables of session outcomes, metric definitions and the end-user settings of a tenant."""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.storage.tables import metadata

# What one session achieved. One row per session; a repeated PUT replaces it. ``user_id`` is
# the session's, copied so that row-level scoping (``storage/scope.py``) applies to outcomes
# as to sessions, and so that erasing a user finds them without a join.
session_outcomes = sa.Table(
    "session_outcomes",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(256), nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("counters", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index("ix_session_outcomes_tenant_id_user_id", "tenant_id", "user_id"),
)

# The metrics a tenant accepts and their ranges. With none defined, any metric is accepted.
metric_definitions = sa.Table(
    "metric_definitions",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("min", sa.Float, nullable=False),
    sa.Column("max", sa.Float, nullable=False),
    sa.Column("unit", sa.String(32), nullable=True),
    sa.Column("higher_is_better", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

# How a tenant's end-user tokens are checked (``learning/tokens.py``), and which tag fields
# feed the recap. ``issuer`` is a column of its own: a token that names no tenant is matched
# to the one tenant that expects its issuer.
user_settings = sa.Table(
    "learning_settings",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("auth", sa.JSON, nullable=True),
    sa.Column("issuer", sa.String(512), nullable=True, index=True),
    sa.Column("recap", sa.JSON, nullable=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
