"""Faults for tests, on loopback only: a TCP proxy that can refuse or black-hole.

The proxy sits between the server and the shared PostgreSQL (which is never stopped): an
outage is the proxy refusing connections and cutting the open ones (``refuse``), or accepting
and forwarding nothing (``blackhole``: packets dropped, the case that makes clients without
timeouts hang).
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal

Mode = Literal["pass", "refuse", "blackhole"]


class TcpProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode: Mode = "pass"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._thread.start()

    def set(self, mode: Mode) -> None:
        with self._lock:
            self.mode = mode
            if mode == "refuse":
                for sock in list(self._peers):
                    self._drop(sock)

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        with self._lock:
            for sock in list(self._peers):
                self._drop(sock)
        self._listener.close()
        self._selector.close()

    def _run(self) -> None:
        while not self._stopped.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                with self._lock:
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept()
                    elif sock in self._peers:
                        self._forward(sock)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self.mode == "refuse":
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ)
        self._peers[client] = upstream
        self._peers[upstream] = client

    def _forward(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        if self.mode == "blackhole":
            return  # swallowed: neither an answer nor an error ever comes back
        try:
            self._peers[sock].sendall(data)
        except OSError:
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        other = self._peers.pop(sock, None)
        for each in (sock, other):
            if each is None:
                continue
            self._peers.pop(each, None)
            with suppress(KeyError, ValueError):
                self._selector.unregister(each)
            each.close()


@contextmanager
def proxied_postgres(database_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of the PostgreSQL of ``database_url``; yields it and the proxied URL."""
    from sqlalchemy import make_url

    url = make_url(database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    finally:
        proxy.close()
