"""The data-quality report of a tenant over its last days, from the end facts the rollups
keep per day (``rollups/ends.py``): stored past days, live reads for the rest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.quality import rules
from sessionkeeper.quality.rules import GroupBy, GroupReport
from sessionkeeper.rollups.ends import end_facts
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
        self,
        principal: Principal,
        *,
        days_back: int,
        group_by: GroupBy,
        from_rollups: bool = True,
    ) -> QualityReport:
        """The report of the sessions that ended in the last ``days_back`` local days
        (``from_rollups=False``: every day read from the sessions, the answer the rollups
        must always give)."""
        now = self.rt.clock.now_ms()

        def read(conn: Connection) -> QualityReport:
            tz = days.zone(settings_store.timezone_of(conn, principal.tenant_id))
            last = days.day_of(now, tz)
            first = last - timedelta(days=days_back - 1)
            facts = end_facts(conn, principal, first, now, tz, from_rollups=from_rollups)
            groups = rules.report(rules.partials(facts, group_by))
            return QualityReport(first, last, group_by, groups, rules.worst(groups))

        return await self.rt.db.reader.run(read)
