"""``GET /v1/metrics/quality``: how sessions ended, and how much of their time is inferred."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from sessionkeeper.api.deps import ReadScope, ServicesDep
from sessionkeeper.api.openapi import problems
from sessionkeeper.api.routing import api_router
from sessionkeeper.quality.rules import GroupBy
from sessionkeeper.quality.schemas import QualityOut
from sessionkeeper.quality.service import MAX_DAYS, QualityService

router = api_router(tags=["metrics"])


@router.get("/v1/metrics/quality", response_model=QualityOut, responses=problems(422))
async def quality(
    principal: ReadScope,
    services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30,
    group_by: GroupBy = GroupBy.KIND,
) -> QualityOut:
    """Sessions that ended in the last ``days`` local days (today included), by how they
    ended, per kind, source or day: the share of time that is estimated, how wide the
    bounds are, amendments by late evidence, continuations, and the groups that lose their
    end most often — e.g. a companion page that loses its end in 40% of lessons."""
    report = await services.of(QualityService).report(principal, days_back=days, group_by=group_by)
    return QualityOut.of(report)
