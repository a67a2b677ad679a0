"""Table definitions. The Alembic migrations must produce exactly these (a test checks it).

Times are BIGINT epoch milliseconds (see ``domain/times.py``). Every row carries
``tenant_id``; session ids are unique per tenant, and the surrogate ``seq`` keeps the table
compact on SQLite (a rowid table) and gives the sweep a cheap handle on rows.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (autoincrementing, compact).
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

# A key with no tenant is an operator key (scope "operator"): it acts on the whole server.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=True, index=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("heartbeat_interval_ms", sa.BigInteger, nullable=False),
    sa.Column("timeout_ms", sa.BigInteger, nullable=False),
    sa.Column("grace_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    # For rooms of the kind; the server defaults fill the rows written before they existed.
    sa.Column("presence_interval_ms", sa.BigInteger, nullable=False, server_default="30000"),
    sa.Column("room_timeout_ms", sa.BigInteger, nullable=False, server_default="3600000"),
    # For browser sessions whose last beat said the page was hidden.
    sa.Column("hidden_timeout_ms", sa.BigInteger, nullable=False, server_default="900000"),
    # The longest timeout this row has had: a session keeps the timeout of its last beat, so
    # one closed by the sweep may have expired under a longer one than the policy's now.
    sa.Column("longest_timeout_ms", sa.BigInteger, nullable=False, server_default="0"),
)

# The condition of the indexes that hold closed sessions only.
CLOSED = sa.text("ended_at IS NOT NULL")

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("seq", BigIntId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("label", sa.String(256), nullable=True),
    sa.Column("source", sa.String(128), nullable=True),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("end_reason", sa.String(16), nullable=True),
    sa.Column("estimated", sa.Boolean, nullable=False),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    # When the sweep looks at the row next: never after expires_at, and moved by a heartbeat
    # only about once a timeout (see ``storage/heartbeats.py``), so that most heartbeats
    # change no indexed column (on PostgreSQL: HOT updates, no index entry written).
    sa.Column("sweep_at", sa.BigInteger, nullable=False),
    sa.Column("ended_at", sa.BigInteger, nullable=True),
    # The policy in force for this session; a policy change rewrites it on active rows.
    sa.Column("timeout_ms", sa.BigInteger, nullable=False),
    sa.Column("grace_ms", sa.BigInteger, nullable=False),
    # The heartbeat interval of that policy: how soon a live client would have beaten again
    # (the upper bound of an estimated end, ``lifecycle.duration_bounds``).
    sa.Column("heartbeat_interval_ms", sa.BigInteger, nullable=False, server_default="0"),
    # Digest of the start request, so a retried start can be told from a conflicting one.
    sa.Column("start_digest", sa.String(64), nullable=False),
    # The session this one continues after a real gap.
    sa.Column("continues", sa.String(64), nullable=True),
    # Corrections by late evidence after a close by timeout.
    sa.Column("amended_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("amended_at", sa.BigInteger, nullable=True),
    # Set by the recovery after the service's own outage: the deadline it granted, which a
    # beat made before the outage but delivered after it must not take back.
    sa.Column("held_until", sa.BigInteger, nullable=True),
    # Filterable ids (``domain/subject.py``); SQL NULL, not JSON null, when there are none.
    sa.Column("subject", sa.JSON(none_as_null=True), nullable=True),
    # Set on a participant's attendance: the id of the room (itself a session) it belongs to.
    sa.Column("room_id", sa.String(64), nullable=True),
    sa.UniqueConstraint("tenant_id", "id"),
    sa.Index("ix_sessions_tenant_started", "tenant_id", "started_at"),
    sa.Index("ix_sessions_tenant_user_started", "tenant_id", "user_id", "started_at"),
    # The sweep reads only this: active rows by when to look at them. Its size is the active set.
    sa.Index(
        "ix_sessions_active_sweep",
        "sweep_at",
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    ),
    sa.Index(
        "ix_sessions_active_source",
        "tenant_id",
        "source",
        sqlite_where=sa.text("status = 'active' AND source IS NOT NULL"),
        postgresql_where=sa.text("status = 'active' AND source IS NOT NULL"),
    ),
    # A source's sessions the sweep closed, by end: what a late snapshot may amend
    # (``storage/presence.timed_out_alive_at``). Only a source that fell silent fills it. Not
    # by deadline: a heartbeat moves ``expires_at``, and on PostgreSQL an update that writes
    # an indexed column (in any index, partial or not) is no HOT update.
    sa.Index(
        "ix_sessions_timed_out_source",
        "tenant_id",
        "source",
        "ended_at",
        sqlite_where=sa.text("status = 'timed_out' AND source IS NOT NULL"),
        postgresql_where=sa.text("status = 'timed_out' AND source IS NOT NULL"),
    ),
    # Closed sessions by end; with the start and the kind, so that the dashboard's hours
    # chart reads a day of ends from the index alone. Closed ones only: every query of it
    # asks for an end, and open sessions' NULL entries made each start and close write it.
    sa.Index(
        "ix_sessions_tenant_ended",
        "tenant_id",
        "ended_at",
        "started_at",
        "kind",
        sqlite_where=CLOSED,
        postgresql_where=CLOSED,
    ),
    sa.Index(
        "ix_sessions_tenant_continues",
        "tenant_id",
        "continues",
        sqlite_where=sa.text("continues IS NOT NULL"),
        postgresql_where=sa.text("continues IS NOT NULL"),
    ),
    # A room's attendances, by participant; ordinary sessions are not in it.
    sa.Index(
        "ix_sessions_room_user",
        "tenant_id",
        "room_id",
        "user_id",
        sqlite_where=sa.text("room_id IS NOT NULL"),
        postgresql_where=sa.text("room_id IS NOT NULL"),
    ),
)

# A closed session's duration, spelled once: the index below and the listing ordered by it
# must write the same expression for the database to match them.
DURATION = sessions.c.ended_at - sessions.c.started_at
# Closed sessions by duration, for a listing ordered by it (an open session's is NULL).
sa.Index(
    "ix_sessions_tenant_duration",
    sessions.c.tenant_id,
    DURATION,
    sqlite_where=CLOSED,
    postgresql_where=CLOSED,
)

# The time of the newest snapshot or change set applied per source: an older one arriving
# late (a retry, a reordered request) must not rewrite what a newer one established.
presence_sources = sa.Table(
    "presence_sources",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("source", sa.String(128), primary_key=True),
    sa.Column("last_applied_at", sa.BigInteger, nullable=False),
    # The newest snapshot (or keepalive) applied: one heartbeat of every session the source
    # holds open, kept here instead of on each session (``storage/source_beats.py``).
    sa.Column("beat_at", sa.BigInteger, nullable=True),
    # Moved by the database (triggers on ``sessions``, migration 0010) whenever one of the
    # source's open sessions starts, closes, or changes what it is or when it expires: a
    # process that holds the open sessions in memory trusts them only at the revision it saw.
    sa.Column("revision", sa.BigInteger, nullable=False, server_default="0"),
)

# When a server process last proved it could write: every process moves it forward every few
# seconds. A gap before ``alive_at`` is time the service itself was unavailable (process down,
# database unreachable), which must not count as the silence of clients.
server_liveness = sa.Table(
    "server_liveness",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("alive_at", sa.BigInteger, nullable=False),
)

# Secrets the server made for itself, shared by its processes and kept with its data (a
# backup restores them): the key of public ids (``domain/public_ids.py``), as hex.
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)

# Who did what by hand, when, to which target (see ``storage/audit.py``).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.Integer, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(300), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(300), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_audit_log_tenant_id", "tenant_id", "id"),
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("finished_at", sa.BigInteger, nullable=False),
    sa.Column("duration_ms", sa.BigInteger, nullable=False),
    sa.Column("result", sa.BigInteger, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("last_success_at", sa.BigInteger, nullable=True),
    # When the last successful run started: what a tenant is shown of a server job's success.
    sa.Column("last_success_started_at", sa.BigInteger, nullable=True),
    # The result per tenant ({"<tenant id>": n}, only tenants with n > 0): a tenant's view of
    # a run must not show the others' figures.
    sa.Column("result_by_tenant", sa.JSON, nullable=True),
    # A server job's run: when tenants may see it, and the run they see until then (the
    # columns above, as JSON): its end must not show (``domain/job_runs.py``).
    sa.Column("shown_from", sa.BigInteger, nullable=True),
    sa.Column("shown_before", sa.JSON, nullable=True),
)
