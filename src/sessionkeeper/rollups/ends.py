"""The end facts of a tenant's last days: stored rollups for the past days that are up to date,
and live reads for the rest, so that the answer is what one pass over the sessions gives now.

What is read live, and why the parts never overlap:

- today, and every past day marked for a refresh: every session whose end (as of now) lies on
  them, from the index of ends and the sweep's index;
- on the other past days, only the sessions still open in the table whose end as of now falls
  there (an overdue session the sweep has not closed yet), from the partial index of active
  sessions. A stored day holds only sessions closed in the table, so none is counted twice;
  and a session closed, amended or deleted since its day was stored marked that day, which
  then is read live until the refresh catches up.

A principal that sees one user's sessions reads every day live: the stored rollups are the
whole tenant's.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.rollups import ends_store
from sessionkeeper.rollups.ends_rules import EndFact, combine, live_days
from sessionkeeper.settings.rules import day_of, day_start, days


def stored_end_facts(
    conn: Connection, principal: Principal, first: date, now: int, tz: ZoneInfo
) -> list[EndFact]:
    """The facts of the days ``first`` to today as the last refresh of each day stored them
    (today's up to ``SESSIONKEEPER_ROLLUP_INTERVAL_S`` behind, as the rows per kind): for a
    chart, which need not wait on live reads. Read live for a principal that sees one user's
    sessions."""
    if principal.user_id is not None or principal.server_wide:
        return end_facts(conn, principal, first, now, tz, from_rollups=False)
    return ends_store.stored_facts(conn, principal.tenant_id, first, day_of(now, tz))


def end_facts(
    conn: Connection,
    principal: Principal,
    first: date,
    now: int,
    tz: ZoneInfo,
    *,
    from_rollups: bool = True,
) -> list[EndFact]:
    """The facts of the sessions that ended from the local day ``first`` up to ``now``, as
    they stand at ``now``, by day (of ``tz``, the tenant's zone), kind, source and end
    reason (``from_rollups=False``: every day read from the sessions, which the rollups must
    always agree with)."""
    today = day_of(now, tz)
    start = day_start(first, tz)
    if not from_rollups or principal.user_id is not None or principal.server_wide:
        return combine(ends_store.live_facts(conn, principal, (start, now + 1), now, tz))
    tenant = principal.tenant_id
    dirty = ends_store.dirty_days(conn, tenant, first, today)
    runs = live_days(first, today, dirty)
    live = {day for run in runs for day in days(*run)}
    facts = [f for f in ends_store.stored_facts(conn, tenant, first, today) if f.day not in live]
    for run_first, run_last in runs:
        window = (
            day_start(run_first, tz),
            now + 1 if run_last == today else day_start(run_last + timedelta(days=1), tz),
        )
        one_day = run_first if run_first == run_last else None
        facts += ends_store.live_facts(conn, principal, window, now, tz, day=one_day)
    today_start = day_start(today, tz)
    if start < today_start:
        opened = ends_store.live_facts(
            conn, principal, (start, today_start), now, tz, open_only=True
        )
        facts += [f for f in opened if f.day not in live]
    return combine(facts)
