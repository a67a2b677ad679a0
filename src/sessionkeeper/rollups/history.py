"""The history API's answers: days from the rollups, periods compared, live counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sessionkeeper.domain.principal import Principal
from sessionkeeper.errors import InvalidInput
from sessionkeeper.rollups import sessions_store, store
from sessionkeeper.rollups.cache import LiveCache
from sessionkeeper.rollups.rules import (
    DayRange,
    DayRow,
    Period,
    TopName,
    merge_events,
    periods,
)
from sessionkeeper.rollups.service import compute_day, longest_span
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.settings import store as settings_store
from sessionkeeper.settings.rules import day_of, day_start, days, timezone_error, zone

DEFAULT_DAYS = 30
# Most days one answer spans: from the rollups, and computed from raw tables for a time
# zone other than the tenant's (each day read from the sessions and events themselves).
MAX_DAYS = 1000
MAX_COMPUTED_DAYS = 92


@dataclass(frozen=True, slots=True)
class Daily:
    timezone: str
    first: date
    last: date
    rows: list[DayRow]


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    first: date
    last: date
    sessions: dict[str, Any]  # the sessions part over the whole period
    events_by_type: dict[str, int]
    top_names: list[TopName]


@dataclass(frozen=True, slots=True)
class Summary:
    period: Period
    timezone: str
    kind: str | None
    current: PeriodTotals
    previous: PeriodTotals


@dataclass(frozen=True, slots=True)
class Live:
    at: int
    counts: store.LiveCounts

    def to_json(self) -> dict[str, Any]:
        by_kind = {kind: list(pair) for kind, pair in self.counts.by_kind.items()}
        return {"at": self.at, "by_kind": by_kind, "users": self.counts.users}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Live:
        by_kind = {kind: (int(n), int(users)) for kind, (n, users) in data["by_kind"].items()}
        return cls(int(data["at"]), store.LiveCounts(by_kind, int(data["users"])))


class HistoryService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        settings = runtime.settings
        self.cache = (
            None
            if settings.redis_url is None
            else LiveCache(settings.redis_url, settings.redis_prefix, settings.live_cache_ttl_s)
        )

    async def _timezone(self, principal: Principal) -> str:
        return await self.rt.db.reader.run(
            lambda conn: settings_store.timezone_of(conn, principal.tenant_id)
        )

    async def daily(
        self,
        principal: Principal,
        *,
        first: date | None = None,
        last: date | None = None,
        days_back: int | None = None,
        kind: str | None = None,
        timezone: str | None = None,
    ) -> Daily:
        """One row per day and kind: the last ``days_back`` days (30 by default) up to today,
        or ``first`` to ``last``; days of the tenant's time zone unless ``timezone`` says."""
        tenant_zone = await self._timezone(principal)
        zone_name = timezone or tenant_zone
        if timezone is not None and timezone_error(timezone) is not None:
            raise InvalidInput(str(timezone_error(timezone)), field="tz", code="unknown_timezone")
        now = self.rt.clock.now_ms()
        first, last = _range(first, last, days_back, day_of(now, zone(zone_name)))
        if zone_name == tenant_zone:
            rows = await self.rt.db.reader.run(
                lambda conn: store.rows_between(conn, principal, first, last, kind)
            )
            return Daily(zone_name, first, last, rows)
        if (last - first).days >= MAX_COMPUTED_DAYS:
            raise InvalidInput(
                f"in a time zone other than the tenant's ({tenant_zone}) days are computed "
                f"from the raw data: ask for at most {MAX_COMPUTED_DAYS} days",
                field="tz",
                code="range_too_long",
            )
        if principal.user_id is not None:  # aggregates of the tenant are no user's to read
            return Daily(zone_name, first, last, [])

        def computed(conn: Any) -> list[DayRow]:
            rows: list[DayRow] = []
            for day in days(first, last):
                found = compute_day(conn, principal.tenant_id, day, timezone=zone_name, now=now)
                rows.extend(row for row in found if kind is None or row.kind == kind)
            return rows

        return Daily(zone_name, first, last, await self.rt.db.reader.run(computed))

    async def summary(
        self, principal: Principal, period: Period, *, kind: str | None = None
    ) -> Summary:
        """The current period up to now against the whole period before it, in the tenant's
        days: sessions read over each period, events from the daily rollups."""
        zone_name = await self._timezone(principal)
        now = self.rt.clock.now_ms()
        current, previous = periods(period, day_of(now, zone(zone_name)))

        def totals(conn: Any, span: DayRange) -> PeriodTotals:
            tz = zone(zone_name)
            window = (day_start(span[0], tz), day_start(span[1] + timedelta(days=1), tz))
            sessions: dict[str, Any] = {}
            if principal.user_id is None:
                longest = longest_span(conn, principal.tenant_id, now)
                parts, _ = sessions_store.summarise(
                    conn, principal.tenant_id, window, longest, now, kind=kind, by_kind=False
                )
                sessions = parts.get(sessions_store.ALL, {})
            by_type, top = merge_events(store.rows_between(conn, principal, *span, kind))
            return PeriodTotals(span[0], span[1], sessions, by_type, top)

        found = await self.rt.db.reader.run(
            lambda conn: (totals(conn, current), totals(conn, previous))
        )
        return Summary(period, zone_name, kind, *found)

    async def live(self, principal: Principal) -> Live:
        """Open sessions and users now, from the partial index of active sessions. With Redis
        configured, a tenant-wide answer may come from its cache, at most
        ``SESSIONKEEPER_LIVE_CACHE_TTL_S`` old (``at`` says when it was read)."""
        cache = self.cache if principal.user_id is None else None
        if cache is not None:
            cached = await cache.get(principal.tenant_id)
            if cached is not None:
                return Live.from_json(cached)
        now = self.rt.clock.now_ms()
        counts = await self.rt.db.reader.run(lambda conn: store.live_counts(conn, principal, now))
        live = Live(now, counts)
        if cache is not None:
            await cache.put(principal.tenant_id, live.to_json())
        return live


def _range(
    first: date | None, last: date | None, days_back: int | None, today: date
) -> tuple[date, date]:
    if days_back is not None and (first is not None or last is not None):
        raise InvalidInput("give either days or from/to, not both", field="days")
    if first is None and last is None:
        last = today
    if first is None:
        assert last is not None
        first = last - timedelta(days=(days_back or DEFAULT_DAYS) - 1)
    if last is None:
        last = max(first, today)
    if last < first:
        raise InvalidInput("to is before from", field="to")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"ask for at most {MAX_DAYS} days", field="from")
    return first, last
