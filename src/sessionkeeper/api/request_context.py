"""The request id and the access log, as pure ASGI middleware.

Every request gets an id: the client's ``X-Request-ID`` when it sends a usable one (a proxy
or a caller correlating its own logs), else a new one. It is echoed in the response's
``X-Request-ID``, in every problem body (``request_id``) and on every log line written while
the request is served, so a 5xx in a client's report leads straight to its log lines.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionkeeper.clock import monotonic_s
from sessionkeeper.logs import REQUEST_ID, fact, request_log

HEADER = "x-request-id"
# What a client-sent id may look like: short, printable, nothing that could forge a log line.
USABLE_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")
SCOPE_KEY = "sessionkeeper.request_id"

# A new id is a keyed hash of this process's id and a counter: unique, and, without the key
# (random, made once per process), saying nothing of the counter. Not random.getrandbits: its
# Mersenne Twister is rebuilt from 624 outputs (156 ids), after which the gap between two of
# a client's own ids counts every request anyone made in between. Not os.urandom: its system
# call lets go of the GIL, and under load the writer thread takes it there, so that every
# request waited once for the writer's turn (in process, 300 µs a heartbeat instead of 210).
_ID_KEY = os.urandom(32)
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    """32 hex digits no client can foresee. The pid keeps forked workers' ids apart."""
    made = f"{os.getpid()}:{next(_ID_COUNTER)}".encode()
    return hashlib.blake2b(made, key=_ID_KEY, digest_size=16).hexdigest()


def request_id_of(scope: Scope) -> str | None:
    value = scope.get(SCOPE_KEY)
    return value if isinstance(value, str) else None


class RequestContext:
    """Give each request an id, echo it, and log the request when it is answered."""

    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = Answer(send, begin(scope))
        began = monotonic_s()
        try:
            await self.app(scope, receive, answer.send)
        finally:
            log_request(scope, answer.status, monotonic_s() - began, access_log=self.access_log)


class Answer:
    """A request's answer as it goes out: its ``send`` adds the request id's header to the
    start, and notes the status (500 until one is sent: an exception got there first)."""

    __slots__ = ("_send", "header", "started", "status")

    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self.header = (HEADER.encode(), request_id.encode())
        self.started = False
        self.status = 500

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), self.header]
        await self._send(message)


def begin(scope: Scope) -> str:
    """The request's id, kept in its scope and in the context its log lines are written in.

    An id given already (by the express lane, which handed the request on) is kept."""
    request_id = request_id_of(scope) or _client_id(scope) or new_request_id()
    scope[SCOPE_KEY] = request_id
    # Not reset afterwards: the error handler outside this middleware (a 500) still
    # needs it, and each request runs in a task, and so a context, of its own.
    REQUEST_ID.set(request_id)
    return request_id


def log_request(scope: Scope, status: int, seconds: float, *, access_log: bool) -> None:
    """The access log's line for an answered request; errors (5xx) are logged always."""
    if status < 500 and not access_log:
        return
    level = logging.ERROR if status >= 500 else logging.INFO
    client = scope.get("client")
    fact(
        request_log,
        f"{scope['method']} {scope['path']} {status}",
        level=level,
        method=scope["method"],
        path=scope["path"],
        status=status,
        duration_ms=round(seconds * 1000, 2),
        client=client[0] if client else None,
    )


def _client_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if USABLE_ID.match(text) else None
    return None
