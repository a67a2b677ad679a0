"""The analytics methods of :class:`Client` and :class:`AsyncClient`: events, daily metrics,
summaries, live counts, settings. Each sends one call of ``analytics_calls``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from datetime import date
from typing import Any, TypeVar, Unpack

from sessionkeeper.client import analytics_calls as calls
from sessionkeeper.client.analytics import (
    DailyMetrics,
    Event,
    EventBatchResult,
    EventPage,
    LiveMetrics,
    NewEvent,
    RollupRun,
    Summary,
    TenantSettings,
)
from sessionkeeper.client.analytics_calls import EventFilters, SessionEventFilters
from sessionkeeper.client.calls import Call

T = TypeVar("T")
Period = str  # "day", "week" or "month"


class Analytics:
    """Mixed into :class:`Client`."""

    def send(self, call: Call[T], *, retries: int | None = None) -> T:
        raise NotImplementedError

    def send_events(self, events: Iterable[NewEvent | Mapping[str, Any]]) -> EventBatchResult:
        """Up to 1,000 events; each gets an outcome (``stored``, ``duplicate``,
        ``session_not_found`` or ``invalid``). Events without ``event_id`` get one here."""
        return self.send(calls.send_events(events))

    def events(self, **filters: Unpack[EventFilters]) -> EventPage:
        """One page of events, newest first; pass ``cursor=page.next_cursor`` for more."""
        return self.send(calls.list_events(**filters))

    def iter_events(self, **filters: Unpack[EventFilters]) -> Iterator[Event]:
        """Every event of the listing, across all pages."""
        query: EventFilters = {**filters}
        while True:
            page = self.events(**query)
            yield from page.items
            if page.next_cursor is None:
                return
            query["cursor"] = page.next_cursor

    def session_events(self, session_id: str, **filters: Unpack[SessionEventFilters]) -> EventPage:
        return self.send(calls.session_events(session_id, **filters))

    def metrics_daily(
        self,
        *,
        days: int | None = None,
        from_day: date | None = None,
        to_day: date | None = None,
        kind: str | None = None,
        tz: str | None = None,
    ) -> DailyMetrics:
        """Daily rollups: the last ``days`` (30 by default), or ``from_day`` to ``to_day``."""
        return self.send(
            calls.metrics_daily(days=days, from_day=from_day, to_day=to_day, kind=kind, tz=tz)
        )

    def metrics_summary(self, period: Period = "day", *, kind: str | None = None) -> Summary:
        """This day, week or month so far against the whole one before."""
        return self.send(calls.metrics_summary(period, kind=kind))

    def metrics_live(self) -> LiveMetrics:
        return self.send(calls.metrics_live())

    def settings(self) -> TenantSettings:
        return self.send(calls.settings())

    def put_settings(self, *, timezone: str) -> TenantSettings:
        """Set the tenant's time zone (an IANA name): the days of its rollups."""
        return self.send(calls.put_settings(timezone=timezone))

    def refresh_rollups(self) -> RollupRun:
        """Recompute the changed days now (needs an admin key)."""
        return self.send(calls.refresh_rollups())


class AsyncAnalytics:
    """Mixed into :class:`AsyncClient`."""

    async def send(self, call: Call[T], *, retries: int | None = None) -> T:
        raise NotImplementedError

    async def send_events(self, events: Iterable[NewEvent | Mapping[str, Any]]) -> EventBatchResult:
        return await self.send(calls.send_events(events))

    async def events(self, **filters: Unpack[EventFilters]) -> EventPage:
        return await self.send(calls.list_events(**filters))

    async def iter_events(self, **filters: Unpack[EventFilters]) -> AsyncIterator[Event]:
        query: EventFilters = {**filters}
        while True:
            page = await self.events(**query)
            for event in page.items:
                yield event
            if page.next_cursor is None:
                return
            query["cursor"] = page.next_cursor

    async def session_events(
        self, session_id: str, **filters: Unpack[SessionEventFilters]
    ) -> EventPage:
        return await self.send(calls.session_events(session_id, **filters))

    async def metrics_daily(
        self,
        *,
        days: int | None = None,
        from_day: date | None = None,
        to_day: date | None = None,
        kind: str | None = None,
        tz: str | None = None,
    ) -> DailyMetrics:
        return await self.send(
            calls.metrics_daily(days=days, from_day=from_day, to_day=to_day, kind=kind, tz=tz)
        )

    async def metrics_summary(self, period: Period = "day", *, kind: str | None = None) -> Summary:
        return await self.send(calls.metrics_summary(period, kind=kind))

    async def metrics_live(self) -> LiveMetrics:
        return await self.send(calls.metrics_live())

    async def settings(self) -> TenantSettings:
        return await self.send(calls.settings())

    async def put_settings(self, *, timezone: str) -> TenantSettings:
        return await self.send(calls.put_settings(timezone=timezone))

    async def refresh_rollups(self) -> RollupRun:
        return await self.send(calls.refresh_rollups())
