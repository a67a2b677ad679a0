"""A real sessionkeeper server for the client tests: uvicorn in a thread, SQLite in a file."""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from sessionkeeper.assembly import create_app
from sessionkeeper.domain.principal import Scope
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime
from tests.support import settings_for

# The server's own sweep runs this often, so timed-out sessions close without being asked.
SWEEP_INTERVAL_S = 0.5
# Client options for tests: retries wait little, since what matters is that they happen.
FAST: dict[str, Any] = {"backoff": 0.01, "retries": 3, "timeout": 5}


@dataclass(frozen=True)
class Tenant:
    name: str
    admin: str
    ingest: str
    read: str


@dataclass
class LiveServer:
    base_url: str
    app: FastAPI

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def new_tenant(self) -> Tenant:
        """A tenant of its own per test: its sessions and policies are nobody else's."""
        name = f"t-{uuid.uuid4().hex[:12]}"
        tenants = self.services.tenants
        tenants.create_tenant(name)
        keys = {scope: tenants.create_key(name, scope)[1] for scope in Scope}
        return Tenant(name, keys[Scope.ADMIN], keys[Scope.INGEST], keys[Scope.READ])


@contextmanager
def serve(database: Path) -> Iterator[LiveServer]:
    with serve_url(f"sqlite:///{database}") as server:
        yield server


@contextmanager
def serve_url(url: str, **settings: object) -> Iterator[LiveServer]:
    """A real server on ``url`` in this process (uvicorn in a thread) on a free port."""
    runtime = Runtime.open(settings_for(url, **{"sweep_interval_s": SWEEP_INTERVAL_S, **settings}))
    app = create_app(runtime)
    # Binding port 0 here and handing the socket to uvicorn: the port is free and ours.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True
    )
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=15)
        if not server.started:
            raise RuntimeError("the live server did not start")
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
        runtime.close()


def wait_until(predicate: Callable[[], Any], *, timeout: float = 5.0, every: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy and return it; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {predicate}")
        time.sleep(every)


async def await_until(
    predicate: Callable[[], Any], *, timeout: float = 5.0, every: float = 0.02
) -> Any:
    """``wait_until`` for async tests: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {predicate}")
        await asyncio.sleep(every)


class Forwarding:
    """Requests go to the live server unless ``fault`` says otherwise for a request.

    ``fault(request)`` returns None to forward, an exception to raise instead of sending, or a
    response to answer with. ``after(request, response)`` may raise after the server has
    answered, which loses the answer the way a dropped connection does.
    """

    def __init__(
        self,
        fault: Callable[[httpx.Request], Exception | httpx.Response | None] | None = None,
        after: Callable[[httpx.Request, httpx.Response], None] | None = None,
    ) -> None:
        self.fault = fault
        self.after = after
        self.attempts: list[httpx.Request] = []  # every request the client made
        self.delivered: list[httpx.Request] = []  # those that reached the server
        self._lock = threading.Lock()

    def _fault(self, request: httpx.Request) -> httpx.Response | None:
        with self._lock:
            self.attempts.append(request)
        outcome = None if self.fault is None else self.fault(request)
        if isinstance(outcome, Exception):
            raise outcome
        if outcome is None:
            with self._lock:
                self.delivered.append(request)
        return outcome

    def sync(self) -> httpx.MockTransport:
        real = httpx.HTTPTransport()

        def handle(request: httpx.Request) -> httpx.Response:
            answer = self._fault(request)
            if answer is not None:
                return answer
            response = real.handle_request(request)
            response.read()
            if self.after is not None:
                self.after(request, response)
            return response

        return httpx.MockTransport(handle)

    def async_(self) -> httpx.MockTransport:
        real = httpx.AsyncHTTPTransport()

        async def handle(request: httpx.Request) -> httpx.Response:
            answer = self._fault(request)
            if answer is not None:
                return answer
            response = await real.handle_async_request(request)
            await response.aread()
            if self.after is not None:
                self.after(request, response)
            return response

        return httpx.MockTransport(handle)


def hanging_network(seconds: float) -> tuple[threading.Event, Forwarding]:
    """A network to an unreachable server that answers nothing: while the event is set, each
    request waits ``seconds`` and then times out, as one to a host that went silent does."""
    hanging = threading.Event()

    def fault(request: httpx.Request) -> Exception | None:
        if hanging.is_set():
            time.sleep(seconds)
            return httpx.ReadTimeout("no answer", request=request)
        return None

    return hanging, Forwarding(fault=fault)


def problem(status: int, title: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """A problem+json answer as the server would send it."""
    return httpx.Response(
        status,
        json={"type": "about:blank", "title": title, "status": status, "detail": title},
        headers={"Content-Type": "application/problem+json", **(headers or {})},
    )
