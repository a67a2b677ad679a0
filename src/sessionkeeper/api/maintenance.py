"""Operator endpoints: run the sweep now; Prometheus metrics.

``/metrics`` counts sessions per kind over every tenant, so not everyone may read it:

- with ``SESSIONKEEPER_METRICS_TOKEN`` set, a scrape sends that token (or the operator key)
  as a bearer token;
- with ``SESSIONKEEPER_METRICS_LISTEN`` set, ``/metrics`` is served only on that separate
  address (an internal interface), and needs the token there only if one is set;
- with neither, only clients on this machine (loopback) and the operator key may scrape.
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import datetime

from fastapi import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from sessionkeeper.api.deps import MaintenanceScope, ServicesDep, bearer_token
from sessionkeeper.api.listeners import on_metrics_listener
from sessionkeeper.api.openapi import problems
from sessionkeeper.api.routing import api_router
from sessionkeeper.domain.times import from_ms
from sessionkeeper.errors import Forbidden, Unauthorized
from sessionkeeper.services.container import Services

router = api_router(tags=["maintenance"])


class SweepOut(BaseModel):
    closed: int
    at: datetime
    duration_s: float


@router.post("/v1/maintenance/sweep", response_model=SweepOut)
async def run_sweep(principal: MaintenanceScope, services: ServicesDep) -> SweepOut:
    """Close the caller's tenant's overdue sessions now and say how many. The operator key
    sweeps every tenant (or the one it names) and sees the total."""
    result = await services.sweeper.run_for(principal)
    if not principal.server_wide:  # the operator's own runs are its logs' business
        details = {"closed": result.closed_for(principal)}
        await services.audit.record(principal, "sweep.run", details=details)
    return SweepOut(
        closed=result.closed_for(principal),
        at=from_ms(result.at),
        duration_s=result.duration_s,
    )


def _is_loopback(request: Request) -> bool:
    if request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


async def _may_scrape(request: Request, services: Services) -> None:
    token = services.runtime.settings.metrics_token
    sent = bearer_token(request)
    if sent is not None:
        if token is not None and hmac.compare_digest(sent, token.get_secret_value()):
            return
        if (await services.auth.api_key(sent)).server_wide:
            return
        raise Forbidden("metrics need the metrics token or the operator key")
    if token is None and (on_metrics_listener(request.scope) or _is_loopback(request)):
        return
    raise Unauthorized(
        "send the metrics token (SESSIONKEEPER_METRICS_TOKEN) or the operator key as "
        "'Authorization: Bearer <token>'"
    )


METRICS_RESPONSE = {
    200: {
        "description": "Prometheus text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    },
    **problems(401, 403, 503),
}


@router.get("/metrics", response_class=Response, responses=METRICS_RESPONSE)
async def get_metrics(request: Request, services: ServicesDep) -> Response:
    """Prometheus metrics, for the metrics token, the operator key or a scraper on this
    machine (see the production guide)."""
    await _may_scrape(request, services)
    await services.health.refresh_active_gauge()
    body = generate_latest(services.runtime.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
