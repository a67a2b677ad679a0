"""The express lane: the plain single heartbeat, answered ahead of the middleware stack.

A heartbeat that passes through the whole stack crosses ten layers before its route (the
server-error, telemetry and body-limit layers of FastAPI, the request id, the metrics'
timing, gzip, the body's cap and coding, the exception handlers, the exit stack, the route
list) and each wraps the request's ``send`` or ``receive`` once more. At a steady 1,000
heartbeats/s that stack was about 150 µs of the event loop's 520 µs per heartbeat (per-thread
CPU of a server on SQLite): a quarter of the one core a process's requests share.

The lane takes a request only when the stack would have nothing to do for it but pass it on:
``POST`` without a query string to a route that answers plain bodies itself
(:class:`ExpressRoute`), a body of an announced length within the cap, in no content coding,
on the service's own address. It does
what the stack's layers would have done for such a request, with the same functions: the
request id (``request_context.begin``), the access log, the duration metric
(``middleware.observe``), gzip for a client that accepts it (the stack's own layer),
and the app's own exception handlers for an error of the call. Everything else — a body that
is not the plain case, or a request the lane does not take — goes through the whole stack
exactly as before, the body already read replayed to it. ``tests/api/test_express_lane.py``
compares the lane's answers, headers included, with the stack's.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol, cast

from fastapi import FastAPI, Request, Response
from prometheus_client import Histogram
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionkeeper.api.heartbeat_route import DECLARED, read_body, replaying
from sessionkeeper.api.middleware import GzipResponses, observe
from sessionkeeper.api.request_context import Answer, begin, log_request
from sessionkeeper.clock import monotonic_s


class ExpressRoute(Protocol):
    """A route that can answer its plain bodies itself (``HeartbeatRoute``)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]: ...

    def plain(self, scope: Scope, messages: list[Message]) -> Any | None: ...

    async def respond(self, scope: Scope, receive: Receive, body: Any) -> Response: ...


class ExpressLane:
    """Answer the plain requests of ``routes`` without the middleware stack.

    ``limit`` is the body cap of those routes (``RequestBody``'s); ``metrics_port`` the port
    of a separate metrics address, where only ``/metrics`` is served; the gzip settings are
    those of the stack's ``GzipResponses``."""

    def __init__(
        self,
        routes: Sequence[ExpressRoute],
        *,
        limit: int,
        histogram: Histogram,
        access_log: bool,
        metrics_port: int | None,
        gzip_min_bytes: int,
        gzip_level: int,
    ) -> None:
        self.routes = list(routes)
        self.limit = limit
        self.histogram = histogram
        self.access_log = access_log
        self.metrics_port = metrics_port
        # The stack's gzip layer, built once around the one answer each request stores in
        # its scope: built per request, it cost more than the rest of the answer's sending.
        self.gzip = GzipResponses(
            _stored_answer, minimum_size=gzip_min_bytes, compresslevel=gzip_level
        )

    def route_for(self, scope: Scope) -> ExpressRoute | None:
        """The route that takes this request in the lane, its path parameters put in the
        scope; None when the request must go through the stack."""
        # A query string is never plain: the declared route refuses what it does not declare.
        if scope["method"] != "POST" or scope.get("query_string") or not self._plain_framing(scope):
            return None
        server = scope.get("server")
        if self.metrics_port is not None and server is not None and server[1] == self.metrics_port:
            return None  # the metrics address answers 404 to all but /metrics: the stack's
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                return route
        return None

    def _plain_framing(self, scope: Scope) -> bool:
        """A body of an announced length within the cap, in no content coding: nothing for
        ``RequestBody`` to decode or refuse."""
        length: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name in (b"content-encoding", b"transfer-encoding"):
                return False
        return length is not None and length <= self.limit

    async def serve(
        self, route: ExpressRoute, scope: Scope, receive: Receive, send: Send, stack: ASGIApp
    ) -> None:
        began = monotonic_s()
        request_id = begin(scope)
        messages, complete = await read_body(receive)
        replay = replaying(messages, receive)
        body = route.plain(scope, messages) if complete else None
        if body is None:
            scope[DECLARED] = True
            await stack(scope, replay, send)  # its answer, word for word; the id is kept
            return
        answer = Answer(send, request_id)
        try:
            try:
                response = await route.respond(scope, replay, body)
            except Exception as exc:
                response = await self._handled(scope, replay, exc)
            # Through the stack's gzip layer: it compresses only for a client that accepts
            # gzip, and only answers of its minimum size.
            scope[_ANSWER] = response
            await self.gzip(scope, replay, answer.send)
        except Exception as exc:
            # What Starlette's server-error layer does, outermost in the stack: the handler
            # of 500 answers straight to the server (its problem names the request already),
            # unless an answer had begun; then the exception goes on, for the server to log.
            if not answer.started:
                await self._server_error(scope, replay, send, exc)
            raise
        finally:
            seconds = monotonic_s() - began
            observe(self.histogram, scope, answer.status, seconds)
            log_request(scope, answer.status, seconds, access_log=self.access_log)

    async def _handled(self, scope: Scope, receive: Receive, exc: Exception) -> Response:
        """The answer of the app's handler for ``exc``, as Starlette's exception layer picks
        it (the nearest class in its MRO); ``exc`` itself when no handler but the
        server-error layer's takes it."""
        handlers = cast(FastAPI, scope["app"]).exception_handlers
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            # The handler of Exception is the server-error layer's: _server_error's.
            if handler is not None and cls is not Exception:
                response = await _answer(handler(Request(scope, receive), exc))
                # As Starlette's layer: one exception may be raised to many requests (a
                # group that failed), and each would add its frames to the one traceback.
                exc.__traceback__ = None
                return response
        raise exc

    async def _server_error(
        self, scope: Scope, receive: Receive, send: Send, exc: Exception
    ) -> None:
        handlers = cast(FastAPI, scope["app"]).exception_handlers
        handler = handlers.get(500) or handlers.get(Exception)
        if handler is not None:
            response = await _answer(handler(Request(scope, receive), exc))
            await response(scope, receive, send)


# Where the lane leaves a request's answer for the gzip layer's inner app to send.
_ANSWER = "sessionkeeper.express.answer"


async def _stored_answer(scope: Scope, receive: Receive, send: Send) -> None:
    response: Response = scope.pop(_ANSWER)
    await response(scope, receive, send)


async def _answer(answered: Response | Awaitable[Response]) -> Response:
    # The app's handlers are coroutines; Starlette's contract allows plain functions too.
    return await answered if inspect.isawaitable(answered) else answered


class ExpressApp(FastAPI):
    """The service's app: FastAPI, with the express lane in front of its middleware stack.

    ``express`` is set once the app is assembled (``api/app.py``); until then, and for every
    request the lane does not take, the app is FastAPI as it is."""

    express: ExpressLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.express
        if lane is not None and scope["type"] == "http" and not self.root_path:
            route = lane.route_for(scope)
            if route is not None:
                scope["app"] = self
                await lane.serve(route, scope, receive, send, super().__call__)
                return
        await super().__call__(scope, receive, send)
