"""Rollup tables: the rows, the (tenant, day, part) marked for recomputation, and per-tenant
state. Also the partial index that makes ``GET /v1/metrics/live`` read only active rows."""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.storage.tables import metadata, sessions

ACTIVE_ONLY = "status = 'active'"

rollups_daily = sa.Table(
    "rollups_daily",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    # '' for the events sent without a session.
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("sessions_started", sa.Integer, nullable=False),
    sa.Column("sessions_active", sa.Integer, nullable=False),
    sa.Column("users", sa.Integer, nullable=False),
    sa.Column("duration_total_ms", sa.BigInteger, nullable=False),
    # The part of the total from estimated ends, and where the true total lies.
    sa.Column("duration_estimated_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("duration_low_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("duration_high_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("duration_p50_ms", sa.BigInteger, nullable=True),
    sa.Column("duration_p95_ms", sa.BigInteger, nullable=True),
    sa.Column("by_status", sa.JSON, nullable=False),
    sa.Column("events_by_type", sa.JSON, nullable=False),
    sa.Column("top_names", sa.JSON, nullable=False),
    sa.Column("computed_at", sa.BigInteger, nullable=False),
)

# How the sessions that ended on a day ended, per kind, source and end reason: the sums of the
# data-quality report (``quality``) and the counts of the duration histogram. Recomputed with
# the sessions part of the day (same marks), from the sessions closed in the table only; the
# open ones, and an overdue one read as the sweep will close it, are read live.
rollups_ends = sa.Table(
    "rollups_ends",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("kind", sa.String(64), primary_key=True),
    # "api" for the sessions started with no source.
    sa.Column("source", sa.String(128), primary_key=True),
    sa.Column("end_reason", sa.String(16), primary_key=True),
    sa.Column("sessions", sa.Integer, nullable=False),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("estimated_ms", sa.BigInteger, nullable=False),
    sa.Column("bound_width_ms", sa.BigInteger, nullable=False),
    sa.Column("amended", sa.Integer, nullable=False),
    sa.Column("continuations", sa.Integer, nullable=False),
    # Sessions per duration bucket (``ends_rules.DURATION_BUCKETS_S``), the last one open.
    sa.Column("duration_buckets", sa.JSON, nullable=False),
)

# Per tenant and day, what the rows per kind cannot add up to: the distinct users over all
# kinds (a user active in two kinds is one user of the day).
rollups_days = sa.Table(
    "rollups_days",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("users", sa.Integer, nullable=False),
)

# What changed and must be recomputed. A new change to a marked day bumps ``version``, so a
# recomputation that read the day before that change leaves the mark in place.
rollup_dirty = sa.Table(
    "rollup_dirty",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("part", sa.String(16), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

rollup_tenants = sa.Table(
    "rollup_tenants",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    # The longest closed session ever seen: a day's sessions started at most this long
    # before it, so reading them is a range of the (tenant, started_at) index.
    sa.Column("longest_session_ms", sa.BigInteger, nullable=False),
    # Raw events before this were dropped by retention: their days keep the events part.
    sa.Column("events_dropped_before", sa.BigInteger, nullable=True),
    # Active sessions were counted up to this time by the last refresh ("time so far").
    sa.Column("active_counted_to", sa.BigInteger, nullable=True),
    # Set while a rebuild is under way, so that running it again resumes it.
    sa.Column("rebuild_started_at", sa.BigInteger, nullable=True),
)

# Active sessions by tenant and kind, with what live counts and rollups read of them: live
# metrics and the span of open sessions come from this index alone, never from a scan. It
# holds ``sweep_at``, not the exact deadline, which most heartbeats move: a heartbeat that
# changes no indexed column writes no index entry (see ``storage/heartbeats.py``).
active_sessions_index = sa.Index(
    "ix_sessions_active_tenant_kind",
    sessions.c.tenant_id,
    sessions.c.kind,
    sessions.c.user_id,
    sessions.c.sweep_at,
    sessions.c.started_at,
    sqlite_where=sa.text(ACTIVE_ONLY),
    postgresql_where=sa.text(ACTIVE_ONLY),
)
