"""Liveness (``/healthz``) and session health (``/v1/health``)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import Request
from pydantic import BaseModel, Field

from sessionkeeper.api.deps import ServicesDep, authenticate
from sessionkeeper.api.openapi import problems
from sessionkeeper.api.responses import SessionOut
from sessionkeeper.api.routing import api_router
from sessionkeeper.domain.principal import Scope
from sessionkeeper.domain.times import from_ms, seconds_of
from sessionkeeper.errors import StorageUnavailable
from sessionkeeper.services.health import Health, HealthStatus
from sessionkeeper.storage.jobs import JobRun

router = api_router(tags=["health"])


class KindHealth(BaseModel):
    active: int
    overdue: int
    timed_out_last_hour: int
    active_users: int


_AS_OF_START = (
    "null for a tenant's view of a server job: its length depends on every tenant's data, so "
    "a tenant is shown the run as of its start (`at` is then the start)"
)


class SweepInfo(BaseModel):
    at: datetime
    lag_s: float
    duration_s: float | None = Field(description=_AS_OF_START)
    closed: int
    error: str | None
    last_success_at: datetime | None


class JobInfo(BaseModel):
    started_at: datetime
    at: datetime
    lag_s: float
    duration_s: float | None = Field(description=_AS_OF_START)
    error: str | None
    last_success_at: datetime | None

    @classmethod
    def of(cls, run: JobRun, now: int) -> JobInfo:
        return cls(
            started_at=from_ms(run.started_at),
            at=from_ms(run.finished_at),
            lag_s=(now - run.finished_at) / 1000,
            duration_s=seconds_of(run.duration_ms),
            error=run.error,
            last_success_at=None if run.last_success_at is None else from_ms(run.last_success_at),
        )


class HealthOut(BaseModel):
    status: HealthStatus
    reasons: list[str]
    database: bool
    now: datetime
    active_sessions: int
    overdue_sessions: int
    timed_out_last_hour: int
    active_users: int
    kinds: dict[str, KindHealth]
    last_sweep: SweepInfo | None
    jobs: dict[str, JobInfo] = Field(
        default_factory=dict, description="The last run of each periodic job, by name"
    )
    overdue: list[SessionOut] | None = None
    recently_timed_out: list[SessionOut] | None = None

    @classmethod
    def of(cls, health: Health, *, details: bool) -> HealthOut:
        counts = health.counts
        sweep = health.last_sweep
        kinds = {} if counts is None else dict(counts.by_kind)
        return cls(
            status=health.status,
            reasons=health.reasons,
            database=health.database,
            now=from_ms(health.now),
            active_sessions=0 if counts is None else counts.total("active"),
            overdue_sessions=0 if counts is None else counts.total("overdue"),
            timed_out_last_hour=0 if counts is None else counts.total("timed_out_last_hour"),
            active_users=0 if counts is None else counts.active_users,
            kinds={kind: KindHealth(**vars_of(c)) for kind, c in sorted(kinds.items())},
            last_sweep=None
            if sweep is None
            else SweepInfo(
                at=from_ms(sweep.finished_at),
                lag_s=(health.now - sweep.finished_at) / 1000,
                duration_s=seconds_of(sweep.duration_ms),
                closed=health.last_sweep_closed,
                error=sweep.error,
                last_success_at=None
                if sweep.last_success_at is None
                else from_ms(sweep.last_success_at),
            ),
            jobs={run.name: JobInfo.of(run, health.now) for run in health.jobs},
            overdue=[SessionOut.of(s, **health.fields[s.id]) for s in health.overdue]
            if details
            else None,
            recently_timed_out=[
                SessionOut.of(s, **health.fields[s.id]) for s in health.recently_timed_out
            ]
            if details
            else None,
        )


def vars_of(counts: object) -> dict[str, int]:
    return {name: getattr(counts, name) for name in KindHealth.model_fields}


@router.get("/healthz")
async def get_liveness() -> dict[str, str]:
    """Liveness: the process answers. No authentication, no database."""
    return {"status": "ok"}


@router.get("/v1/health", response_model=HealthOut, responses=problems(401, 403, 429))
async def get_health(request: Request, services: ServicesDep, details: bool = False) -> HealthOut:
    """Is the session record trustworthy right now? Answers 200 with ``status`` ``ok``,
    ``degraded`` or ``down`` and the reasons, so that monitors can read the body; also when
    the database is down and the API key cannot even be checked.

    Figures are the caller's tenant's; the operator key sees the whole server's (or one
    tenant's, named in the ``Sessionkeeper-Tenant`` header)."""
    timeout = services.runtime.settings.health_timeout_s
    try:
        principal = await asyncio.wait_for(authenticate(request, server_wide=True), timeout)
    except TimeoutError:
        return HealthOut.of(services.health.down(services.health.no_answer()), details=False)
    except StorageUnavailable as exc:
        return HealthOut.of(services.health.down(exc), details=False)
    principal.require(Scope.READ)
    health = await services.health.check(principal, details=details)
    return HealthOut.of(health, details=details)
