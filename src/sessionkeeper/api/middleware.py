"""Pure ASGI middleware: request timing for metrics, gzip for the clients that accept it."""

from __future__ import annotations

from prometheus_client import Histogram
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionkeeper.clock import monotonic_s


class RequestTiming:
    """Observe each request's duration by route template and status."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = monotonic_s()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            observe(self.histogram, scope, status, monotonic_s() - began)


def observe(histogram: Histogram, scope: Scope, status: int, seconds: float) -> None:
    """Count a request's duration under its route's template (one label per route, not
    per path) and its status."""
    route = scope.get("route")
    template = getattr(route, "path", None) or "unmatched"
    histogram.labels(scope["method"], template, str(status)).observe(seconds)


class GzipResponses(GZipMiddleware):
    """Starlette's gzip, passed by entirely when the client does not accept gzip.

    Starlette wraps every response in a responder even then (to read its content type); for
    API clients, which mostly send no ``Accept-Encoding: gzip``, that is pure cost on every
    request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _accepts_gzip(scope):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _accepts_gzip(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept-encoding" and b"gzip" in value.lower():
            return True
    return False
