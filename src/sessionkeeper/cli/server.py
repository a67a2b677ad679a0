"""Serving the app: listening sockets bound up front, and slow clients held to deadlines.

The sockets are bound before anything else happens (``bind``), so that a port already taken
stops ``serve`` before it creates the first tenant and prints its key, not after.

Uvicorn bounds neither how long a client may take to send its request nor how many
connections may be open, so connections that never finish their headers would stay open for
ever. The protocol here adds both bounds:

- the request headers must arrive within ``request_header_timeout_s`` of the connection
  opening (or of the first byte of the next request on a kept-alive connection),
- the body within ``request_body_timeout_s`` of the headers,
- otherwise the server answers 408 and closes the connection;
- past ``max_connections`` open connections a new one is closed at once.

A reverse proxy in front adds its own limits (see the production guide).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import socket
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sessionkeeper.clock import monotonic_s
from sessionkeeper.config import Settings
from sessionkeeper.logs import fact, request_log, startup_log

# File descriptors kept beyond the connections: database files, the log, the listeners.
SPARE_FILES = 128
_REFUSAL_LOG_EVERY_S = 10.0


class CannotListen(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Listener:
    sock: socket.socket
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def bind(host: str, port: int) -> Listener:
    """A socket bound to ``host:port`` (port 0: any free port), not yet listening."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return Listener(sock, host, sock.getsockname()[1])


def allow_open_files(connections: int) -> None:
    """Raise the soft limit on open files so that ``connections`` fit, where the hard limit
    lets us; say so when it does not."""
    want = connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    ceiling = want if hard == resource.RLIM_INFINITY else min(want, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    if ceiling < want:
        fact(
            startup_log,
            "open-file limit below max_connections; lower SESSIONKEEPER_MAX_CONNECTIONS or "
            "raise the limit (LimitNOFILE= in systemd)",
            level=logging.WARNING,
            limit=ceiling,
            max_connections=connections,
        )


def _timeout_response() -> bytes:
    body = json.dumps(
        {
            "type": "https://sessionkeeper.dev/problems/request-timeout",
            "title": "Request timeout",
            "status": 408,
            "detail": "the request was not received in time",
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedProtocol(HttpToolsProtocol):
    """Uvicorn's HTTP/1.1 protocol with request deadlines and a bound on connections.

    The limits are class attributes, set by :func:`protocol_for` from the settings.
    """

    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_connections: int = 1000
    _last_refusal_log: float = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refuse()
            return
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the next request on a kept-alive connection
            self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        self._arm(self.body_timeout_s)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            if self.cycle is not None:
                self.cycle.keep_alive = False
            self.transport.write(_timeout_response())
        self.transport.close()

    def _refuse(self) -> None:
        now = monotonic_s()
        if now - GuardedProtocol._last_refusal_log > _REFUSAL_LOG_EVERY_S:
            GuardedProtocol._last_refusal_log = now
            fact(
                request_log,
                "connection refused: too many open connections",
                level=logging.WARNING,
                max_connections=self.max_connections,
            )
        self.transport.close()


class EnvironmentProtocol(GuardedProtocol):
    """:class:`GuardedProtocol` with the limits of the settings in the environment. Worker
    processes (``serve --workers N``) receive the protocol by its import path, so the limits
    cannot be handed over as a class made at run time; each reads the same settings as its
    parent instead, once."""

    _configured = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if not cls._configured:
            settings = Settings()
            cls.header_timeout_s = settings.request_header_timeout_s
            cls.body_timeout_s = settings.request_body_timeout_s
            cls.max_connections = settings.max_connections
            cls._configured = True
        super().__init__(*args, **kwargs)


def protocol_for(settings: Settings) -> type[GuardedProtocol]:
    return type(
        "SessionkeeperProtocol",
        (GuardedProtocol,),
        {
            "header_timeout_s": settings.request_header_timeout_s,
            "body_timeout_s": settings.request_body_timeout_s,
            "max_connections": settings.max_connections,
        },
    )
