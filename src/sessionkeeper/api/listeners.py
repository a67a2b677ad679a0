"""Which listening address a request came in on, when ``/metrics`` has one of its own.

With ``SESSIONKEEPER_METRICS_LISTEN`` set, ``serve`` listens on both addresses with one
server; this middleware keeps ``/metrics`` off the main address and everything else off the
metrics address (404 there), so the two can be exposed to different networks.
"""

from __future__ import annotations

from starlette._utils import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from sessionkeeper.api.errors import send_problem

METRICS_PATH = "/metrics"
_SCOPE_KEY = "sessionkeeper.metrics_listener"


def on_metrics_listener(scope: Scope) -> bool:
    return bool(scope.get(_SCOPE_KEY, False))


class MetricsListener:
    def __init__(self, app: ASGIApp, *, port: int) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        # Two listeners of one host cannot share a port, so the port tells them apart.
        on_metrics = server is not None and server[1] == self.port
        scope[_SCOPE_KEY] = on_metrics
        if on_metrics != (get_route_path(scope) == METRICS_PATH):
            await send_problem(
                send, 404, "Not found", "not served on this address", slug="not-found"
            )
            return
        await self.app(scope, receive, send)
