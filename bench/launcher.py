"""The server as benchmarks run it: the real app plus one bench-only route.

``POST /bench/bare`` parses the same body with the same pydantic model and the same route
class as the heartbeat endpoint, behind the same middleware, and answers 204 without
authentication or database: the ceiling that the heartbeat endpoint is measured against. It
exists only in this process, never in the product.

Run as ``python -m bench.launcher --port N``; settings come from ``SESSIONKEEPER_*``.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import APIRouter, FastAPI, Response

from sessionkeeper.api import sessions as sessions_api
from sessionkeeper.api.sessions import HeartbeatBody
from sessionkeeper.assembly import create_app
from sessionkeeper.config import Settings
from sessionkeeper.services.runtime import Runtime

BARE_PATH = "/bench/bare"


def build_app(runtime: Runtime) -> FastAPI:
    app = create_app(runtime)
    router = APIRouter(route_class=sessions_api.router.route_class)

    @router.post(BARE_PATH, status_code=204, include_in_schema=False)
    async def bare(body: HeartbeatBody | None = None) -> Response:
        return Response(status_code=204)

    app.include_router(router)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings()
    runtime = Runtime.open(settings)
    try:
        # On SIGTERM uvicorn runs the lifespan shutdown (the writer drains and stops), then
        # re-raises the signal, so the process ends there.
        uvicorn.run(
            build_app(runtime),
            host="127.0.0.1",
            port=args.port,
            log_level=settings.log_level,
            access_log=False,
        )
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
