"""The data-quality report of a tenant over its last days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.quality import rules, store
from sessionkeeper.quality.rules import GroupBy, GroupReport
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.settings import rules as days
from sessionkeeper.settings import store as settings_store

MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class QualityReport:
    first: date
    last: date
    group_by: GroupBy
    groups: list[GroupReport]
    worst: list[GroupReport]


class QualityService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def report(
        self, principal: Principal, *, days_back: int, group_by: GroupBy
    ) -> QualityReport:
        now = self.rt.clock.now_ms()

        def read(conn: Connection) -> QualityReport:
            tz = days.zone(settings_store.timezone_of(conn, principal.tenant_id))
            last = days.day_of(now, tz)
            first = last - timedelta(days=days_back - 1)
            window = (days.day_start(first, tz), now + 1)
            partials = store.partials(conn, principal, group_by, window, now)
            if group_by is GroupBy.DAY:
                groups = rules.report(
                    partials, lambda bucket: days.day_of(int(bucket), tz).isoformat()
                )
            else:
                groups = rules.report(partials)
            return QualityReport(first, last, group_by, groups, rules.worst(groups))

        return await self.rt.db.reader.run(read)
