"""What the dashboard's pages show, read through the kernel's and the features' services.

Nothing here queries for itself what a service already answers: counters come from health and
the session stats, charts from the rollups' history and the stats, tables from the listing,
actions from the sessions service, the sweeper and the rooms' cleanup, whose writes reach the
audit log as they do through the API.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.engine import Connection

from sessionkeeper.clock import monotonic_s
from sessionkeeper.dashboard import rules
from sessionkeeper.dashboard import store as dashboard_store
from sessionkeeper.dashboard.access import Access
from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.listing import Cursor, SessionFilter, SessionOrder
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.errors import NotFound
from sessionkeeper.events.rules import EventFilter
from sessionkeeper.events.service import EventService
from sessionkeeper.links.container import LinkServices
from sessionkeeper.links.store import Link
from sessionkeeper.quality.rules import GroupBy as QualityGroupBy
from sessionkeeper.quality.service import QualityReport, QualityService
from sessionkeeper.rollups import ends_store
from sessionkeeper.rollups.bundle import Rollups
from sessionkeeper.rollups.ends import stored_end_facts
from sessionkeeper.rollups.ends_rules import histogram
from sessionkeeper.rooms.cleanup import CleanupStatus
from sessionkeeper.rooms.invite_store import Invite
from sessionkeeper.rooms.service import Rooms, RoomView
from sessionkeeper.rooms.store import RoomFilter
from sessionkeeper.services.container import Services
from sessionkeeper.services.health import Health, HealthStatus
from sessionkeeper.settings import store as settings_store
from sessionkeeper.settings.rules import day_of, day_start, days, zone
from sessionkeeper.storage.audit import AuditEntry

HOUR_MS = 3_600_000
CHART_DAYS = 30
EVENTS_SHOWN = 200
CHARTS_TTL_S = 30.0
MAX_CACHED_CHARTS = 1000
INVITES_SHOWN = 100


@dataclass(frozen=True, slots=True)
class Counters:
    health: Health
    started_today: int
    ended_today: int
    timed_out_today: int
    cleanup: CleanupStatus | None

    @property
    def active(self) -> int:
        return 0 if self.health.counts is None else self.health.counts.total("active")

    @property
    def overdue(self) -> int:
        return 0 if self.health.counts is None else self.health.counts.total("overdue")

    @property
    def active_users(self) -> int:
        return 0 if self.health.counts is None else self.health.counts.active_users


@dataclass(frozen=True, slots=True)
class SessionDetail:
    session: Session
    steps: list[rules.Step]
    room: RoomView | None = None
    events_truncated: bool = False
    invites: list[Invite] = field(default_factory=list)


@dataclass(slots=True)
class Charts:
    days: list[str] = field(default_factory=list)
    sessions_per_day: list[int] = field(default_factory=list)
    users_per_day: list[int] = field(default_factory=list)
    duration_labels: list[str] = field(default_factory=list)
    duration_counts: list[int] = field(default_factory=list)
    hours: list[int] = field(default_factory=list)
    active_by_kind: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "sessions_per_day": self.sessions_per_day,
            "users_per_day": self.users_per_day,
            "duration_labels": self.duration_labels,
            "duration_counts": self.duration_counts,
            "hours": self.hours,
            "active_by_kind": self.active_by_kind,
        }


class Dashboard:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.rt = services.runtime
        self.access = Access(services)
        self._charts: dict[tuple[int, str | None], tuple[float, Charts]] = {}

    @classmethod
    def build(cls, services: Services) -> Dashboard:
        return cls(services)

    # Overview

    async def _today_start(self, principal: Principal) -> int:
        name = await self.rt.db.reader.run(
            lambda conn: settings_store.timezone_of(conn, principal.tenant_id)
        )
        tz = zone(name)
        return day_start(day_of(self.rt.clock.now_ms(), tz), tz)

    async def counters(self, principal: Principal) -> Counters:
        health = await self.services.health.check(principal)
        if health.status is HealthStatus.DOWN:  # say so, rather than fail the page
            return Counters(health, 0, 0, 0, None)
        start = await self._today_start(principal)
        now = self.rt.clock.now_ms()
        counts = await self.rt.db.reader.run(
            lambda conn: dashboard_store.today(conn, principal, start=start, now=now)
        )
        cleanup = await self.services.of(Rooms).cleaner.status(principal)
        return Counters(
            health=health,
            started_today=counts.started,
            ended_today=counts.ended,
            timed_out_today=counts.timed_out,
            cleanup=cleanup,
        )

    async def charts(self, principal: Principal) -> Charts:
        """The overview's charts, read at most once per ``CHARTS_TTL_S`` per tenant: about
        thirty reads each, and days and hours change slowly."""
        key = (principal.tenant_id, principal.user_id)
        cached = self._charts.get(key)
        if cached is not None and cached[0] > monotonic_s():
            return cached[1]
        charts = await self._read_charts(principal)
        if len(self._charts) > MAX_CACHED_CHARTS:
            self._charts.clear()
        self._charts[key] = (monotonic_s() + CHARTS_TTL_S, charts)
        return charts

    async def _read_charts(self, principal: Principal) -> Charts:
        charts = Charts()
        daily = await self.services.of(Rollups).history.daily(principal, days_back=CHART_DAYS)
        started_per_day = rules.sum_by_day((row.day, row.sessions_started) for row in daily.rows)
        now = self.rt.clock.now_ms()
        # The sessions going at some moment of each of the last 24 hours, per kind.
        hour_now = now - now % HOUR_MS
        charts.hours = [hour_now - n * HOUR_MS for n in range(23, -1, -1)]

        def read(
            conn: Connection,
        ) -> tuple[dict[date, int], list[int], list[tuple[str, int, int, int]]]:
            # Distinct users per day over all kinds, and the duration distribution of the
            # sessions that ended on the chart's days, both kept with the daily rollups.
            users = ends_store.day_users(conn, principal, daily.first, daily.last)
            tz = zone(settings_store.timezone_of(conn, principal.tenant_id))
            facts = stored_end_facts(conn, principal, daily.first, now, tz)
            spans = dashboard_store.hour_spans(
                conn, principal, first=charts.hours[0], hour_ms=HOUR_MS, now=now
            )
            return users, histogram(facts), spans

        users_per_day, buckets, spans = await self.rt.db.reader.run(read)
        for day in days(daily.first, daily.last):
            charts.days.append(day.isoformat())
            charts.sessions_per_day.append(started_per_day.get(day, 0))
            charts.users_per_day.append(users_per_day.get(day, 0))
        charts.duration_labels = rules.bucket_labels()
        charts.duration_counts = buckets
        charts.active_by_kind = rules.active_by_hour(spans, len(charts.hours))
        return charts

    # Sessions

    async def sessions(
        self,
        principal: Principal,
        where: SessionFilter,
        *,
        order: SessionOrder,
        limit: int,
        after: Cursor | None,
    ) -> tuple[list[Session], Cursor | None]:
        return await self.services.sessions.list(
            principal, where, limit=limit, after=after, order=order
        )

    async def find(self, principal: Principal, session_id: str) -> Session | None:
        try:
            return await self.services.sessions.get(principal, session_id)
        except NotFound:
            return None

    async def detail(self, principal: Principal, session_id: str) -> SessionDetail:
        session = await self.services.sessions.get(principal, session_id)
        events, more = await self.services.of(EventService).of_session(
            principal, session_id, EventFilter(), limit=EVENTS_SHOWN, after=None
        )
        steps = rules.timeline(session, ((e.at, e.type.value, e.name) for e in events))
        room = None
        with contextlib.suppress(NotFound):  # an ordinary session, not a room
            room = await self.services.of(Rooms).rooms.get(principal, session_id)
        invites = []
        if room is not None:
            steps = rules.room_timeline(steps, room.inactive_at, room.room.room_timeout_ms)
            invites = await self.rt.db.reader.run(
                lambda conn: dashboard_store.invites_of_room(
                    conn, principal, session_id, limit=INVITES_SHOWN
                )
            )
        return SessionDetail(
            session, steps, room, events_truncated=more is not None, invites=invites
        )

    async def export(self, principal: Principal, where: SessionFilter) -> AsyncIterator[str]:
        return await self.services.reports.export_csv(principal, where)

    async def rooms(
        self, principal: Principal, *, limit: int, after: Cursor | None
    ) -> tuple[list[RoomView], Cursor | None]:
        return await self.services.of(Rooms).rooms.list(
            principal, RoomFilter(), limit=limit, after=after
        )

    async def links(
        self, principal: Principal, *, limit: int, after: Cursor | None
    ) -> tuple[list[Link], Cursor | None]:
        """A page of the tenant's links, newest first, withdrawn ones included."""
        found = await self.services.of(LinkServices).links.list(
            principal,
            kind=None,
            user_id=None,
            subject={},
            include_deleted=True,
            before=None if after is None else (after.value, after.id),
            limit=limit + 1,
        )
        page = found[:limit]
        more = len(found) > limit and page
        return page, (Cursor(page[-1].created_at, page[-1].id) if more else None)

    async def audit(
        self, principal: Principal, *, limit: int, before: int | None
    ) -> tuple[list[AuditEntry], int | None]:
        """A page of the tenant's log, and where the next one starts: ``before`` and that
        are public ids, and actors name keys by theirs, as in ``/v1/audit``."""
        page = await self.services.audit.page(principal, limit=limit, before=before)
        return page.entries, page.next_before

    async def quality(
        self, principal: Principal, *, days_back: int, group_by: QualityGroupBy
    ) -> QualityReport:
        return await self.services.of(QualityService).report(
            principal, days_back=days_back, group_by=group_by
        )

    # Actions by hand: each one reaches the audit log.

    async def end_session(self, principal: Principal, session_id: str) -> Session:
        # The sessions service writes the audit entry in the same transaction as the end.
        return await self.services.sessions.end(principal, session_id, reason=EndReason.ADMIN)

    async def sweep(self, principal: Principal) -> int:
        result = await self.services.sweeper.run_for(principal)
        closed = result.closed_for(principal)
        await self.services.audit.record(principal, "sweep.run", details={"closed": closed})
        return closed

    async def revoke_invite(self, principal: Principal, invite_id: str, room_id: str) -> None:
        await self.services.of(Rooms).invites.revoke(principal, invite_id)
        await self.services.audit.record(
            principal, "invite.revoke", target=invite_id, details={"room_id": room_id}
        )

    async def withdraw_link(self, principal: Principal, link_id: str) -> None:
        await self.services.of(LinkServices).links.delete(principal, link_id)
        await self.services.audit.record(principal, "link.withdraw", target=link_id)

    async def cleanup(self, principal: Principal) -> int:
        result = await self.services.of(Rooms).cleaner.run_for(principal)
        closed = result.closed_for(principal)
        await self.services.audit.record(principal, "cleanup.run", details={"closed": closed})
        return closed
