"""The ASGI application: routers, error handlers, middleware and the lifespan.

The lifespan applies migrations, starts the writer and the periodic jobs (the sweep runs at
once, closing what expired while the server was down) and stops them in order on shutdown.

The kernel's routers come first, then each feature's; the product's list of features is in
``sessionkeeper/assembly.py``, whose ``create_app`` is what servers and tests run.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from sessionkeeper import __version__
from sessionkeeper.api import (
    errors,
    health,
    maintenance,
    policies,
    presence,
    session_reports,
    sessions,
)
from sessionkeeper.api.deps import BEARER_SCHEME
from sessionkeeper.api.middleware import BodyLimit, RequestTiming
from sessionkeeper.api.responses import Problem
from sessionkeeper.feature import Feature
from sessionkeeper.jobs.registry import periodic_jobs
from sessionkeeper.jobs.runner import JobRunner
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage.job_locks import JobLocks

log = logging.getLogger("sessionkeeper")

DESCRIPTION = """
Applications report sessions; sessionkeeper keeps an accurate, durable record of who did what
and for how long, even when clients crash or never say goodbye.

Authenticate with `Authorization: Bearer <api key>`. Every error body is
`application/problem+json`.
"""


def build_app(
    runtime: Runtime,
    features: Sequence[Feature[Any]],
    *,
    run_jobs: bool = True,
    migrate: bool = True,
) -> FastAPI:
    services = Services.build(runtime, features)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            runtime.db.migrate()
        runtime.db.writer.start()
        runner = JobRunner(
            periodic_jobs(services) if run_jobs else [], JobLocks(runtime.db.read_engine)
        )
        runner.start()
        try:
            yield
        finally:
            await runner.stop()
            await _note_alive(services)
            runtime.db.writer.close()

    app = FastAPI(
        title="sessionkeeper",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    errors.install(app)
    # session_reports first: its paths must not be read as /v1/sessions/{session_id}.
    for module in (session_reports, sessions, policies, presence, health, maintenance):
        app.include_router(module.router)
    for feature in features:
        for router in feature.routers:
            app.include_router(router)
    app.add_middleware(RequestTiming, histogram=runtime.metrics.http_duration)
    app.add_middleware(BodyLimit, limit=runtime.settings.max_body_bytes)
    _register_problem_schema(app)
    return app


async def _note_alive(services: Services) -> None:
    """A clean shutdown records the moment the service stops, so the outage it starts is
    measured from here and not from the last periodic note."""
    try:
        await services.liveness.note()
    except Exception as exc:  # shutting down either way; the periodic note stands in
        log.warning("could not record the shutdown: %s", exc)


def _register_problem_schema(app: FastAPI) -> None:
    """Complete the OpenAPI document: the Problem schema the error responses refer to, and
    the bearer key every /v1 operation needs."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in problem.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components.setdefault("Problem", problem)
            schema["components"]["securitySchemes"] = {"bearer": BEARER_SCHEME}
            for path, operations in schema.get("paths", {}).items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
