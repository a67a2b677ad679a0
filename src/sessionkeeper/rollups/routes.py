"""The history API (``/v1/metrics/...``) and ``POST /v1/maintenance/rollup``."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import Query, Response
from pydantic import BeforeValidator

from sessionkeeper.api.deps import AdminScope, ReadScope, ServicesDep
from sessionkeeper.api.errors import PROBLEM_RESPONSES
from sessionkeeper.api.routing import api_router
from sessionkeeper.domain.ids import KIND_PATTERN
from sessionkeeper.rollups.bundle import Rollups
from sessionkeeper.rollups.history import MAX_DAYS
from sessionkeeper.rollups.rules import Period
from sessionkeeper.rollups.schemas import DailyOut, LiveOut, RollupRunOut, SummaryOut

router = api_router(tags=["metrics"], responses=PROBLEM_RESPONSES)

KindParam = Annotated[str | None, Query(pattern=KIND_PATTERN)]


def _iso_day(value: object) -> object:
    """Days are ISO dates; a bare number would be read as days since 1970."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]


@router.get("/v1/metrics/daily", response_model=DailyOut)
async def daily(
    principal: ReadScope,
    services: ServicesDep,
    days: Annotated[int | None, Query(ge=1, le=MAX_DAYS)] = None,
    from_day: Annotated[Day | None, Query(alias="from")] = None,
    to_day: Annotated[Day | None, Query(alias="to")] = None,
    kind: KindParam = None,
    tz: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> Response:
    """Daily rollups: one row per day and kind, the last ``days`` (30 by default) up to
    today or ``from`` to ``to`` (dates, both included), in the tenant's time zone unless
    ``tz`` names another (then computed from the raw data, at most 92 days)."""
    found = await services.of(Rollups).history.daily(
        principal,
        first=from_day,
        last=to_day,
        days_back=days,
        kind=kind,
        timezone=tz,
    )
    return Response(DailyOut.encode(found, kind), media_type="application/json")


@router.get("/v1/metrics/summary", response_model=SummaryOut)
async def summary(
    principal: ReadScope,
    services: ServicesDep,
    period: Period = Period.DAY,
    kind: KindParam = None,
) -> SummaryOut:
    """This day, ISO week or month up to now against the whole one before it."""
    return SummaryOut.of(await services.of(Rollups).history.summary(principal, period, kind=kind))


@router.get("/v1/metrics/live", response_model=LiveOut)
async def live(principal: ReadScope, services: ServicesDep) -> LiveOut:
    """Active sessions and users now, by kind (overdue sessions are not active)."""
    return LiveOut.of(await services.of(Rollups).history.live(principal))


@router.post("/v1/maintenance/rollup", response_model=RollupRunOut)
async def rollup_now(principal: AdminScope, services: ServicesDep) -> RollupRunOut:
    """Recompute the caller's tenant's changed days now (the job does so every minute)."""
    rollups = services.of(Rollups).refresher
    result = await rollups.refresh(principal.tenant_id)
    return RollupRunOut.of(result, await rollups.pending(principal.tenant_id))
