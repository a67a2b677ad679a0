"""History for the analytics benchmarks: closed sessions and their events, in bulk.

``Spread`` sessions are spread evenly over a span before ``now`` (60 days by default; three
kinds, 50,000 users, 1 to 61 minutes each), with ``events_per_session`` events inside each
(page views, actions and custom events over 200 names), inserted by ``INSERT … SELECT`` over
a generated series like ``bench.populate``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from bench.databases import bare_engine
from bench.populate import series
from sessionkeeper.events.tables import events as e
from sessionkeeper.storage.tables import sessions as t

DAY_MS = 86_400_000
KINDS = ("game", "voice", "web")
TYPES = ("page_view", "action", "custom")
DIGITS = 9


@dataclass(frozen=True, slots=True)
class Spread:
    tenant_id: int
    sessions: int
    now: int
    span_ms: int = 60 * DAY_MS  # the sessions start evenly over the span before ``now``
    events_per_session: int = 5
    prefix: str = "h-"
    first: int = 0  # number of the first session, to add more to a table later

    @property
    def start(self) -> int:
        return self.now - self.span_ms

    @property
    def step_ms(self) -> int:
        return max(1, self.span_ms // self.sessions)


def _padded(conn: sa.Connection, prefix: str, x: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
    digits = sa.func.substr(sa.cast(x + 10**DIGITS, sa.String), 2, DIGITS)
    return sa.literal(prefix) + digits


def _choice(x: sa.ColumnElement[int], values: tuple[str, ...]) -> sa.ColumnElement[str]:
    return sa.case(*((x % len(values) == i, v) for i, v in enumerate(values)), else_=values[0])


def insert_history(url: str, spread: Spread) -> float:
    """Insert the sessions and events of ``spread``; returns the seconds taken."""
    began = time.perf_counter()
    engine = bare_engine(url)
    try:
        with engine.begin() as conn:
            rows = series(conn, spread.first, spread.first + spread.sessions - 1)
            x = sa.cast(rows.c.x, sa.BigInteger)  # x * 7919 passes int4 at a million
            big = sa.BigInteger()
            started = sa.literal(spread.start, big) + (x - spread.first) * sa.literal(
                spread.step_ms, big
            )
            duration = 60_000 + (x * 7919 % 3600) * 1000
            attributes = sa.literal("{}", sa.String)
            if conn.dialect.name == "postgresql":
                attributes = sa.cast(attributes, postgresql.JSON)
            columns = {
                "tenant_id": sa.literal(spread.tenant_id),
                "id": _padded(conn, spread.prefix, x),
                "user_id": sa.literal("user-") + sa.cast(x % 50_000, sa.String),
                "kind": _choice(x, KINDS),
                "label": sa.literal("bench"),
                "attributes": attributes,
                "status": sa.literal("ended"),
                "end_reason": sa.literal("client"),
                "estimated": sa.false(),
                "started_at": started,
                "last_seen_at": started + duration,
                "expires_at": started + duration + 300_000,
                "sweep_at": started + duration + 300_000,
                "ended_at": started + duration,
                "timeout_ms": sa.literal(300_000),
                "grace_ms": sa.literal(30_000),
                "start_digest": sa.literal("d"),
            }
            select = sa.select(*(v.label(k) for k, v in columns.items())).select_from(rows)
            conn.execute(t.insert().from_select(list(columns), select))
            per = spread.events_per_session
            first_event = spread.first * per
            ev = series(conn, first_event, first_event + spread.sessions * per - 1)
            y = sa.cast(ev.c.x, sa.BigInteger)
            owner = y / per if conn.dialect.name == "sqlite" else sa.func.div(y, per)
            owner_started = sa.literal(spread.start, big) + (owner - spread.first) * sa.literal(
                spread.step_ms, big
            )
            event_columns = {
                "tenant_id": sa.literal(spread.tenant_id),
                "event_id": _padded(conn, spread.prefix + "e", y),
                "session_id": _padded(conn, spread.prefix, owner),
                "user_id": sa.literal("user-") + sa.cast(owner % 50_000, sa.String),
                "kind": _choice(owner, KINDS),
                "type": _choice(y, TYPES),
                "name": sa.literal("/page-") + sa.cast(y % 200, sa.String),
                "at": owner_started + (y % per) * 10_000,
                "received_at": owner_started + (y % per) * 10_000,
            }
            select = sa.select(*(v.label(k) for k, v in event_columns.items())).select_from(ev)
            conn.execute(e.insert().from_select(list(event_columns), select))
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE sessions"))
                conn.execute(sa.text("VACUUM ANALYZE events"))
    finally:
        engine.dispose()
    return time.perf_counter() - began


# The same answer as GET /v1/metrics/daily (UTC days, all kinds) straight from the raw
# tables: sessions split over the days they covered, events grouped by day, kind and name.
BARE_SESSIONS = """
WITH days(d, lo, hi) AS ({days})
SELECT d, s.kind, count(*), count(DISTINCT s.user_id),
       sum(CASE WHEN s.started_at >= lo THEN 1 ELSE 0 END),
       sum((CASE WHEN s.ended_at < hi THEN s.ended_at ELSE hi END)
           - (CASE WHEN s.started_at > lo THEN s.started_at ELSE lo END)),
       sum(CASE WHEN s.status = 'ended' THEN 1 ELSE 0 END)
FROM days JOIN sessions s
  ON s.tenant_id = :tenant AND s.started_at < hi AND s.ended_at > lo
GROUP BY d, s.kind
"""
BARE_EVENTS = """
WITH days(d, lo, hi) AS ({days})
SELECT d, e.kind, e.type, e.name, count(*)
FROM days JOIN events e ON e.tenant_id = :tenant AND e.at >= lo AND e.at < hi
GROUP BY d, e.kind, e.type, e.name
"""


def days_values(now: int, days: int) -> str:
    today = now // DAY_MS
    return " UNION ALL ".join(
        f"SELECT {d}, {d * DAY_MS}, {(d + 1) * DAY_MS}" for d in range(today - days + 1, today + 1)
    )


def bare_daily(conn: sa.Connection, tenant_id: int, now: int, days: int) -> int:
    """Run the bare queries; returns how many rows they gave."""
    found = 0
    for query in (BARE_SESSIONS, BARE_EVENTS):
        sql = sa.text(query.format(days=days_values(now, days)))
        found += len(conn.execute(sql, {"tenant": tenant_id}).all())
    return found
