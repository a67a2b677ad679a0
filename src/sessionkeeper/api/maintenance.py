"""Operator endpoints: run the sweep now; Prometheus metrics."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from sessionkeeper.api.deps import AdminScope, ServicesDep
from sessionkeeper.api.errors import PROBLEM_RESPONSES
from sessionkeeper.domain.times import from_ms

router = APIRouter(tags=["maintenance"], responses=PROBLEM_RESPONSES)


class SweepOut(BaseModel):
    closed: int
    at: datetime
    duration_s: float


@router.post("/v1/maintenance/sweep", response_model=SweepOut)
async def sweep_now(principal: AdminScope, services: ServicesDep) -> SweepOut:
    """Close every overdue session now (of every tenant); returns how many of the caller's
    tenant were closed."""
    result = await services.sweeper.run()
    return SweepOut(
        closed=result.closed_for(principal.tenant_id),
        at=from_ms(result.at),
        duration_s=result.duration_s,
    )


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus text format (no authentication, like most scrape targets)."""
    await services.health.refresh_active_gauge()
    body = generate_latest(services.runtime.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
