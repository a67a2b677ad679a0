"""Keeping rollups current: marks of open sessions, refresh of dirty days, rebuilds.

A refresh never computes inside the writer. It reads a chunk of marks and computes their days
on a read connection, then hands the writer one short op that replaces those days' rows and
clears the marks that were not bumped meanwhile (a change committed after the read bumps its
mark, which then stays for the next refresh). Each op writes at most ``CHUNK`` day-parts, so a
heartbeat waits behind at most that, never behind a whole refresh or rebuild.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from itertools import groupby
from typing import Any

from sqlalchemy.engine import Connection

from sessionkeeper.clock import monotonic_s
from sessionkeeper.domain.principal import Principal
from sessionkeeper.events import store as event_store
from sessionkeeper.rollups import ends_store, sessions_store, store
from sessionkeeper.rollups.ends_rules import EndFact
from sessionkeeper.rollups.rules import (
    DayRow,
    Part,
    merge,
    summarise_events,
)
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.settings import store as settings_store
from sessionkeeper.settings.rules import day_of, day_window, days, zone
from sessionkeeper.storage.transaction import Transaction

JOB_NAME = "rollup"
# Day-parts one write op replaces: bounds how long a refresh holds the writer.
CHUNK = 32
# Days one op marks for a rebuild.
MARK_CHUNK = 1000
Values = Mapping[str, Mapping[str, Any]] | None  # a part's values by kind; None: keep as is
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class DayTotals:
    """What a day's sessions part keeps beside its rows per kind: how the sessions closed
    that day ended (``ends_rules``), and the day's distinct users over all kinds."""

    ends: list[EndFact]
    users: int


@dataclass(frozen=True, slots=True)
class RefreshResult:
    at: int
    duration_s: float
    # Day-parts written by each write op, in order.
    chunks: list[int] = field(default_factory=list)

    @property
    def refreshed(self) -> int:
        return sum(self.chunks)


def longest_span(conn: Connection, tenant_id: int, now: int) -> int:
    """How long before a day a session of the tenant active during it may have started."""
    longest = store.state(conn, tenant_id).longest_session_ms
    oldest_open = store.earliest_active(conn, tenant_id).get(tenant_id)
    if oldest_open is not None:
        longest = max(longest, now - oldest_open)
    return longest


def part_values(
    conn: Connection,
    tenant_id: int,
    day: date,
    part: Part,
    *,
    timezone: str,
    longest: int,
    state: store.TenantState,
    now: int,
) -> Values:
    """A part of a day computed from the raw tables; None for an events part whose raw
    events retention dropped (its aggregates are kept as they are)."""
    return part_with_totals(
        conn, tenant_id, day, part, timezone=timezone, longest=longest, state=state, now=now
    )[0]


def part_with_totals(
    conn: Connection,
    tenant_id: int,
    day: date,
    part: Part,
    *,
    timezone: str,
    longest: int,
    state: store.TenantState,
    now: int,
) -> tuple[Values, DayTotals | None]:
    """``part_values``, and for the sessions part the day's totals kept beside its rows."""
    tz = zone(timezone)
    window = day_window(day, tz)
    if part is Part.SESSIONS:
        values, users = sessions_store.summarise(conn, tenant_id, window, longest, now)
        return values, DayTotals(ends_store.closed_facts(conn, tenant_id, day, tz), users)
    dropped = state.events_dropped_before
    if dropped is not None and window[0] < dropped:
        return None, None
    events = summarise_events(
        store.event_counts(conn, tenant_id, window),
        store.unattached_users(conn, tenant_id, window),
    )
    return events, None


def compute_day(
    conn: Connection, tenant_id: int, day: date, *, timezone: str, now: int
) -> list[DayRow]:
    """A day's rows computed from scratch, stored nowhere (a time zone other than the
    tenant's)."""
    longest = longest_span(conn, tenant_id, now)
    state = store.state(conn, tenant_id)
    rows: list[DayRow] = []
    for part in Part:
        values = part_values(
            conn, tenant_id, day, part, timezone=timezone, longest=longest, state=state, now=now
        )
        rows = merge(day, rows, part, values or {}, now)
    return rows


def _mark(tx: Transaction, marks: list[tuple[int, date, Part]]) -> None:
    store.mark(tx.conn, marks)


class RollupService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._lock = asyncio.Lock()

    async def refresh(
        self,
        tenant_id: int | None = None,
        *,
        chunk: int = CHUNK,
        progress: Progress | None = None,
    ) -> RefreshResult:
        """Recompute every marked day-part (of one tenant, or all), chunk by chunk."""
        async with self._lock:
            started, began = self.rt.clock.now_ms(), monotonic_s()
            await self.rt.db.writer.run(
                lambda tx: self._mark_open(tx, tenant_id, self.rt.clock.now_ms())
            )
            chunks: list[int] = []
            after: tuple[int, date, str] | None = None
            while True:
                now = self.rt.clock.now_ms()
                marks = await self.rt.db.reader.run(
                    partial(store.marks_after, tenant_id=tenant_id, after=after, limit=chunk)
                )
                if not marks:
                    break
                # One read per day-part: a read holds its connection for one day's sessions,
                # never for a whole chunk of days.
                values = [
                    await self.rt.db.reader.run(partial(self._compute, mark=mark, now=now))
                    for mark in marks
                ]
                await self.rt.db.writer.run(
                    partial(self._write, marks=marks, values=values, now=now)
                )
                # Onwards from the last key: a mark bumped meanwhile waits for the next run.
                after = marks[-1].key
                chunks.append(len(marks))
                if progress is not None:
                    progress(len(marks))
            return RefreshResult(at=started, duration_s=monotonic_s() - began, chunks=chunks)

    def _mark_open(self, tx: Transaction, tenant_id: int | None, now: int) -> None:
        """Mark the days whose open sessions count their time so far: from the time the last
        refresh counted them to now (a tenant whose last ones closed gets that last day).
        An overdue session not yet swept counts as the sweep will close it, which changes
        its status on every day it covered: those days are marked from its start."""
        conn = tx.conn
        open_since = store.earliest_active(conn, tenant_id)
        overdue_since = store.earliest_active(conn, tenant_id, overdue_at=now)
        counted = store.counted_tenants(conn)
        if tenant_id is not None:
            counted = {t: at for t, at in counted.items() if t == tenant_id}
        tenants = sorted(set(open_since) | set(counted))
        if not tenants:
            return
        zones = settings_store.timezones_of(conn, tenants)
        marks: list[tuple[int, date, Part]] = []
        for t in tenants:
            since = min(counted.get(t, open_since.get(t, now)), overdue_since.get(t, now), now)
            tz = zone(zones[t])
            marks.extend(
                (t, day, Part.SESSIONS) for day in days(day_of(since, tz), day_of(now, tz))
            )
            store.set_active_counted_to(conn, t, now if t in open_since else None)
        store.mark(conn, marks)

    def _compute(
        self, conn: Connection, mark: store.Mark, now: int
    ) -> tuple[Values, DayTotals | None]:
        tenant_id = mark.tenant_id
        return part_with_totals(
            conn,
            tenant_id,
            mark.day,
            mark.part,
            timezone=settings_store.timezone_of(conn, tenant_id),
            longest=longest_span(conn, tenant_id, now),
            state=store.state(conn, tenant_id),
            now=now,
        )

    def _write(
        self,
        tx: Transaction,
        marks: Sequence[store.Mark],
        values: Sequence[tuple[Values, DayTotals | None]],
        now: int,
    ) -> None:
        computed = sorted(zip(marks, values, strict=True), key=lambda mv: mv[0].key)
        for (tenant_id, day), group in groupby(computed, key=lambda mv: mv[0].key[:2]):
            fresh = [(m.part, v, totals) for m, (v, totals) in group if v is not None]
            if not fresh:
                continue
            rows = store.day_rows(tx.conn, tenant_id, day)
            for part, part_values_, totals in fresh:
                rows = merge(day, rows, part, part_values_, now)
                if totals is not None:
                    ends_store.replace_day(tx.conn, tenant_id, day, totals.ends, totals.users)
            store.replace_day(tx.conn, tenant_id, day, rows)
        store.clear(tx.conn, marks)

    async def pending(self, tenant_id: int | None = None) -> int:
        """Day-parts marked and not yet recomputed."""
        return await self.rt.db.reader.run(lambda conn: store.count_marks(conn, tenant_id))

    async def rebuild(
        self,
        principal: Principal,
        *,
        since: date | None = None,
        chunk: int = CHUNK,
        on_start: Callable[[int, bool], None] | None = None,
        progress: Progress | None = None,
    ) -> RefreshResult:
        """Recompute every day of the tenant (from ``since``) from the raw tables.

        The days are marked first and the mark of a day goes only once it is written, so an
        interrupted rebuild resumes where it stopped when run again (``on_start`` hears how
        many day-parts are left and whether it resumed).
        """
        tenant_id = principal.tenant_id
        now = self.rt.clock.now_ms()
        current = await self.rt.db.reader.run(lambda conn: store.state(conn, tenant_id))
        resumed = current.rebuild_started_at is not None
        if not resumed:
            await self._mark_history(tenant_id, since, now)
        if on_start is not None:
            on_start(await self.pending(tenant_id), resumed)
        result = await self.refresh(tenant_id, chunk=chunk, progress=progress)
        await self.rt.db.writer.run(
            lambda tx: store.set_rebuild_started_at(tx.conn, tenant_id, None)
        )
        return result

    async def _mark_history(self, tenant_id: int, since: date | None, now: int) -> None:
        def extent(conn: Connection) -> tuple[date | None, date, int]:
            tz = zone(settings_store.timezone_of(conn, tenant_id))
            firsts = [
                first
                for first in (
                    store.first_started(conn, tenant_id),
                    event_store.first_event_at(conn, tenant_id),
                )
                if first is not None
            ]
            earliest_row = store.first_row_day(conn, tenant_id)
            candidates = [day_of(first, tz) for first in firsts]
            if earliest_row is not None:
                candidates.append(earliest_row)
            first_day = since or (min(candidates) if candidates else None)
            return first_day, day_of(now, tz), store.longest_closed(conn, tenant_id)

        first, last, longest = await self.rt.db.reader.run(extent)
        todo = [] if first is None else list(days(first, last))
        for i in range(0, len(todo), MARK_CHUNK):
            piece = todo[i : i + MARK_CHUNK]
            marks: list[tuple[int, date, Part]] = [
                (tenant_id, day, part) for day in piece for part in Part
            ]
            await self.rt.db.writer.run(partial(_mark, marks=marks))

        def started(tx: Transaction) -> None:
            # Raised, never lowered: a longer session may have closed since it was read.
            store.raise_longest(tx.conn, tenant_id, longest)
            store.set_rebuild_started_at(tx.conn, tenant_id, now)

        await self.rt.db.writer.run(started)
