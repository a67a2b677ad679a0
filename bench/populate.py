"""Setting up a benchmark database: schema, a tenant with a key, and sessions in bulk.

Sessions are inserted straight into ``storage.tables.sessions`` by one ``INSERT … SELECT``
over a generated series, so a million rows take seconds, not minutes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from bench.databases import bare_engine, settings_for
from sessionkeeper.assembly import build_services
from sessionkeeper.domain.principal import Scope
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage.tables import sessions as t

TENANT = "bench"
# Rows as wide as real ones, so that rows per page (what sweeps and heartbeats touch) is real:
# 26-character ids like the server's own, a label, small attributes, a SHA-256 start digest.
ID_WIDTH = 26
NUMBER_WIDTH = 7
LABEL = "Minecraft"
ATTRIBUTES = '{"platform": "pc", "version": "1.20.4"}'
DIGEST = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    key: str


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def prepare(url: str, scope: Scope = Scope.INGEST) -> Tenant:
    """Migrate ``url`` and create the bench tenant and an API key of ``scope``."""
    runtime = Runtime.open(settings_for(url))
    try:
        runtime.db.migrate()
        services = build_services(runtime)
        tenant = services.tenants.create_tenant(TENANT)
        _, key = services.tenants.create_key(TENANT, scope)
    finally:
        runtime.close()
    return Tenant(id=tenant.id, key=key)


@dataclass(frozen=True, slots=True)
class Population:
    """``count`` active sessions ``<prefix>000000`` … of one tenant.

    Every ``overdue_every``-th row (0: none) was last seen ``2 * timeout`` before ``now``, so
    it is overdue at ``now``; the others were last seen ``recent_s`` before ``now``.
    """

    tenant_id: int
    count: int
    now: int
    prefix: str = "s-"
    kind: str = "game"
    timeout_ms: int = 300_000
    grace_ms: int = 30_000
    recent_s: float = 10.0
    overdue_every: int = 0
    source: str | None = None
    start: int = 0
    # Start times ``start_spacing_ms`` apart (0: all at the same moment).
    start_spacing_ms: int = 0
    # A subject per row: {"teacher_id": "t<n % 100>", "student_id": "s<n>"}.
    with_subject: bool = False


def session_id(prefix: str, n: int) -> str:
    """The id of the ``n``-th bulk-inserted session: ``prefix``, zeros, ``n``; 26 characters."""
    return f"{prefix}{n:0{digits(prefix)}d}"


def digits(prefix: str) -> int:
    return ID_WIDTH - len(prefix)


def series(conn: sa.Connection, first: int, last: int) -> sa.FromClause:
    if conn.dialect.name == "postgresql":
        return sa.func.generate_series(first, last).table_valued("x").render_derived("series")
    seed = sa.select(sa.literal(first).label("x")).cte("series", recursive=True)
    step = sa.select((seed.c.x + 1).label("x")).where(seed.c.x < last)
    return seed.union_all(step)


def insert_sessions(conn: sa.Connection, spec: Population) -> None:
    rows = series(conn, spec.start, spec.start + spec.count - 1)
    x = rows.c.x
    recent = spec.now - round(spec.recent_s * 1000)
    if spec.overdue_every:
        last_seen = sa.case(
            (x % spec.overdue_every == 0, spec.now - 2 * spec.timeout_ms), else_=recent
        )
    else:
        last_seen = sa.literal(recent)
    assert spec.start + spec.count <= 10**NUMBER_WIDTH
    zeros = "0" * (digits(spec.prefix) - NUMBER_WIDTH)
    number = sa.func.substr(sa.cast(x + 10**NUMBER_WIDTH, sa.String), 2, NUMBER_WIDTH)
    attributes = sa.literal(ATTRIBUTES, sa.String)
    subject: sa.ColumnElement[Any] = sa.null()
    if spec.with_subject:
        subject = (
            sa.literal('{"teacher_id": "t')
            + sa.cast(x % 100, sa.String)
            + sa.literal('", "student_id": "s')
            + sa.cast(x, sa.String)
            + sa.literal('"}')
        )
    if conn.dialect.name == "postgresql":
        attributes = sa.cast(attributes, postgresql.JSON)
        subject = sa.cast(subject, postgresql.JSON)
    started_at: sa.ColumnElement[Any] = sa.literal(spec.now - 3_600_000)
    if spec.start_spacing_ms:
        started_at = started_at + x * spec.start_spacing_ms
    columns = {
        "tenant_id": sa.literal(spec.tenant_id),
        "id": sa.literal(spec.prefix + zeros) + number,
        "user_id": sa.literal("user-") + sa.cast(x % 50_000, sa.String),
        "kind": sa.literal(spec.kind),
        "label": sa.literal(LABEL),
        "source": sa.null() if spec.source is None else sa.literal(spec.source),
        "attributes": attributes,
        "status": sa.literal("active"),
        "estimated": sa.false(),
        "started_at": started_at,
        "last_seen_at": last_seen,
        "expires_at": last_seen + spec.timeout_ms,
        "sweep_at": last_seen + spec.timeout_ms,
        "timeout_ms": sa.literal(spec.timeout_ms),
        "grace_ms": sa.literal(spec.grace_ms),
        "start_digest": sa.literal(DIGEST),
        "subject": subject,
    }
    select = sa.select(*(value.label(name) for name, value in columns.items()))
    conn.execute(t.insert().from_select(list(columns), select.select_from(rows)))


def populate(url: str, spec: Population) -> float:
    """Insert the sessions of ``spec`` (and ANALYZE on PostgreSQL); returns the seconds taken."""
    began = time.perf_counter()
    engine = bare_engine(url)
    try:
        with engine.begin() as conn:
            insert_sessions(conn, spec)
        if engine.dialect.name == "postgresql":
            # Autovacuum would analyse a table this size within a minute of the load.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE sessions"))
    finally:
        engine.dispose()
    return time.perf_counter() - began


def count_sessions(url: str, status: str = "active") -> int:
    engine = bare_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(t).where(t.c.status == status)
                ).scalar_one()
            )
    finally:
        engine.dispose()
