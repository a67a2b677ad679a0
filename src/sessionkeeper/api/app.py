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
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig

from sessionkeeper import __version__
from sessionkeeper.api import (
    audit,
    docs,
    errors,
    health,
    heap,
    heartbeat_route,
    maintenance,
    openapi,
    policies,
    presence,
    routing,
    session_fields,
    session_reports,
    sessions,
)
from sessionkeeper.api.express import ExpressApp, ExpressLane
from sessionkeeper.api.listeners import MetricsListener
from sessionkeeper.api.middleware import GzipResponses, RequestTiming
from sessionkeeper.api.openapi import operation_id
from sessionkeeper.api.request_body import RequestBody
from sessionkeeper.api.request_context import RequestContext
from sessionkeeper.api.responses import SessionOut
from sessionkeeper.config import listen_address
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
`application/problem+json` and names the request (`request_id`, also sent as
`X-Request-ID`). Request bodies may be sent with `Content-Encoding: gzip`.
"""


# Responses smaller than this are sent as they are: compressing a heartbeat's answer would
# cost more time than the bytes it saves.
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 6
TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}
# Presence bodies carry up to 10,000 entries: they get the larger cap.
PRESENCE_PREFIX = "/v1/presence/"


def build_app(
    runtime: Runtime,
    features: Sequence[Feature[Any]],
    *,
    run_jobs: bool = True,
    migrate: bool = True,
    serving: bool = False,
) -> ExpressApp:
    services = Services.build(runtime, features)
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            runtime.db.migrate()
        runtime.db.read_public_ids()
        runtime.db.writer.start()
        runner = JobRunner(
            periodic_jobs(services) if run_jobs else [], JobLocks(runtime.db.read_engine)
        )
        runner.start()
        if serving:
            heap.freeze_startup_heap()
        try:
            yield
        finally:
            await runner.stop()
            await _note_alive(services)
            runtime.db.writer.close()

    app = ExpressApp(
        title="sessionkeeper",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the package's own assets by api/docs.py
        redoc_url=None,
        generate_unique_id_function=operation_id,
        # No redirect from a path with a trailing slash to the one without: the slash may be
        # an encoded one (``/v1/keys/12%2F``), and a client following the redirect would act
        # on another resource (``DELETE /v1/keys/12``). Such a path is a 404 like any other.
        redirect_slashes=False,
        # FastAPI's own OpenTelemetry hooks ask the global providers on every request
        # whether anything is configured (an environment lookup each time): a tenth of a
        # heartbeat's time on the event loop. The service reports through its Prometheus
        # metrics and logs instead.
        telemetry=TELEMETRY_OFF,
    )
    app.state.services = services
    errors.install(app)
    for router in routers_in_matching_order(features):
        routing.include(app, openapi.declare_statuses(router))
    docs.install(app)
    # Listed innermost first: each add_middleware wraps everything added before it.
    app.add_middleware(
        RequestBody,
        limit=settings.max_body_bytes,
        larger={PRESENCE_PREFIX: settings.max_snapshot_bytes},
    )
    app.add_middleware(GzipResponses, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
    app.add_middleware(RequestTiming, histogram=runtime.metrics.http_duration)
    metrics_port = listen_address(settings.metrics_listen)[1] if settings.metrics_listen else None
    if metrics_port is not None:
        app.add_middleware(MetricsListener, port=metrics_port)
    app.add_middleware(RequestContext, access_log=settings.access_log)
    # In front of all of it: the plain single heartbeat (api/express.py).
    app.express = ExpressLane(
        [route for route in app.router.routes if isinstance(route, heartbeat_route.HeartbeatRoute)],
        limit=settings.max_body_bytes,
        histogram=runtime.metrics.http_duration,
        access_log=settings.access_log,
        metrics_port=metrics_port,
        gzip_min_bytes=GZIP_MIN_BYTES,
        gzip_level=GZIP_LEVEL,
    )
    openapi.complete(
        app,
        partial(
            session_fields.describe,
            fields=services.sessions.fields,
            answers=[SessionOut.__name__],
            heartbeat=heartbeat_route.HeartbeatOut.__name__,
            end_body=sessions.SessionEnd.__name__,
        ),
    )
    return app


async def _note_alive(services: Services) -> None:
    """A clean shutdown records the moment the service stops, so the outage it starts is
    measured from here and not from the last periodic note."""
    try:
        await services.liveness.note()
    except Exception as exc:  # shutting down either way; the periodic note stands in
        log.warning("could not record the shutdown: %s", exc)


def routers_in_matching_order(features: Sequence[Feature[Any]]) -> list[APIRouter]:
    """The routers in the order a request is matched against their routes.

    FastAPI tries the routes one after the other (``routing.include`` lays them out in one
    list), at about 2 µs apiece: a click on a link behind a hundred routes spent 190 µs
    finding its route, more than the rest of its work on the event loop. So the routes
    clients call at a rate (beats, snapshots, events, clicks) come first, the kernel's before
    the features', and the rest after them. No two routers' routes match the same request
    (``tests/api/test_route_order.py``), except that session_reports must come before
    sessions: its paths are not session ids."""
    ingest = (session_reports, sessions, presence)
    rest = (policies, health, maintenance, audit)
    return [
        *(module.router for module in ingest),
        # Fewest routes first: each router's routes are tried before every router after it.
        *sorted(
            (router for feature in features for router in feature.ingest_routers),
            key=lambda router: len(router.routes),
        ),
        *(module.router for module in rest),
        *(router for feature in features for router in feature.routers),
    ]
