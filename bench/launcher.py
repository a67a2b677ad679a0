"""The server as benchmarks run it: the real app plus bench-only routes.

``POST /bench/bare`` parses the same body with the same pydantic model and the same route
class as the heartbeat endpoint, in the same express lane (and behind the same middleware for
what the lane does not take), and answers 204 without authentication or database: the
ceiling that the heartbeat endpoint is measured against.
``GET /bench/bare-click/{token}`` answers a link click's 302 (same target, same headers, same
cookie) without looking the link up or starting a session: the ceiling of ``GET /t/{token}``.
They exist only in this process, never in the product.

Two switches, as settings of ``running_server`` (environment ``SESSIONKEEPER_BENCH_*``):
``bench_server_timing`` adds a ``Server-Timing: app;dur=<ms>`` header, the time from the
request's arrival to its response's start; ``bench_charts_ttl_s`` replaces the dashboard's
30 s cache of the charts (0: every read computes them).

Run as ``python -m bench.launcher --port N [--workers N]``; settings come from
``SESSIONKEEPER_*``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionkeeper.api import routing
from sessionkeeper.api import sessions as sessions_api
from sessionkeeper.api.express import ExpressApp
from sessionkeeper.api.heartbeat_route import HeartbeatBody, HeartbeatRoute
from sessionkeeper.assembly import create_app
from sessionkeeper.config import Settings
from sessionkeeper.dashboard import service as dashboard_service
from sessionkeeper.links import click_routes, pages
from sessionkeeper.services.runtime import Runtime

BARE_PATH = "/bench/bare"
BARE_CLICK_PATH = "/bench/bare-click"
# What every bare click redirects to: the target of the links the clicks benchmark makes.
BARE_CLICK_TARGET = "https://example.com/lesson"
SERVER_TIMING_ENV = "SESSIONKEEPER_BENCH_SERVER_TIMING"
CHARTS_TTL_ENV = "SESSIONKEEPER_BENCH_CHARTS_TTL_S"


class ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>``: from the request's arrival at the app to the start
    of its response (a page is rendered by then; a stream has only begun)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - began) * 1000
                headers = [
                    *message.get("headers", []),
                    (b"server-timing", f"app;dur={ms:.3f}".encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed)


class BareRoute(HeartbeatRoute):
    """The heartbeat's route class, whose plain case answers 204 without any work."""

    async def respond(self, scope: Scope, receive: Receive, body: HeartbeatBody) -> Response:
        return Response(status_code=204)


def build_app(runtime: Runtime) -> ExpressApp:
    app = create_app(runtime, serving=True)
    router = routing.api_router(route_class=sessions_api.router.route_class)

    async def bare(body: HeartbeatBody | None = None) -> Response:
        return Response(status_code=204)

    router.add_api_route(
        BARE_PATH,
        bare,
        methods=["POST"],
        status_code=204,
        include_in_schema=False,
        route_class_override=BareRoute,
    )

    @router.get(BARE_CLICK_PATH + "/{token}", include_in_schema=False)
    async def bare_click(token: str, request: Request) -> Response:
        # The redirect answer of GET /t/{token}: same status, headers and cookie; no database.
        response = RedirectResponse(BARE_CLICK_TARGET, status_code=302)
        response.headers.update(pages.HEADERS)
        response.set_cookie(
            click_routes.COOKIE,
            "tt_" + token,
            max_age=click_routes.COOKIE_MAX_AGE_S,
            path=request.url.path,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
        return response

    # Tried first, as the app's own routes are (``routing.include``): FastAPI tries routes one
    # after the other (about 2 µs apiece), and a bare route behind the app's hundred and more
    # would pay ~200 µs a request that the routes it is the ceiling of, matched among the
    # first, do not (``routers_in_matching_order``).
    app.router.routes[:0] = router.routes
    # The heartbeat goes the express lane (api/express.py): so does its ceiling.
    assert app.express is not None
    app.express.routes[:0] = [route for route in router.routes if isinstance(route, BareRoute)]
    return app


def wrapped(app: FastAPI) -> Any:
    return ServerTiming(app) if os.environ.get(SERVER_TIMING_ENV) else app


def granian_app() -> Any:
    """The same app for granian (``granian --factory bench.launcher:granian_app``), which the
    heartbeat benchmark runs beside uvicorn; its lifespan starts and stops the writer."""
    return wrapped(build_app(Runtime.open(Settings())))


def worker_app() -> Any:
    """The same app in each worker process of ``--workers N`` (as ``sessionkeeper serve
    --workers N`` builds one per worker): its own database handle and writer."""
    return wrapped(build_app(Runtime.open(Settings())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    settings = Settings()
    if CHARTS_TTL_ENV in os.environ:
        dashboard_service.CHARTS_TTL_S = float(os.environ[CHARTS_TTL_ENV])
    if args.workers > 1:
        # Worker processes import the app by name; SIGTERM reaches them through the parent.
        uvicorn.run(
            "bench.launcher:worker_app",
            factory=True,
            workers=args.workers,
            host="127.0.0.1",
            port=args.port,
            log_level=settings.log_level,
            access_log=False,
        )
        return
    runtime = Runtime.open(settings)
    try:
        # On SIGTERM uvicorn runs the lifespan shutdown (the writer drains and stops), then
        # re-raises the signal, so the process ends there.
        uvicorn.run(
            wrapped(build_app(runtime)),
            host="127.0.0.1",
            port=args.port,
            log_level=settings.log_level,
            access_log=False,
        )
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
