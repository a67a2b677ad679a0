"""A real webhook receiver on 127.0.0.1: an HTTP server in a thread that checks every
message's Standard Webhooks signature itself (a few lines of hmac, independent of the
server's signing code) and answers as a test scripts it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def timestamp(self) -> int:
        return int(self.headers["webhook-timestamp"])

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def signatures(self) -> list[str]:
        return self.headers["webhook-signature"].split(" ")

    def signed_by(self, secret: str) -> bool:
        """Whether one of the ``v1`` signatures is this secret's HMAC of id.timestamp.body."""
        key = base64.b64decode(secret.removeprefix("whsec_"))
        content = f"{self.webhook_id}.{self.timestamp}.".encode() + self.body
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        return any(
            version == "v1" and hmac.compare_digest(value, expected)
            for version, _, value in (s.partition(",") for s in self.signatures())
        )


Answer = tuple[int, dict[str, str]]


@dataclass
class Receiver:
    """Records every request; ``answers`` gives the status (and headers) of each in turn,
    the last one repeating."""

    base_url: str = ""
    answers: list[Answer] = field(default_factory=lambda: [(204, {})])
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Seconds to wait before answering (a slow receiver).
    delay_s: float = 0.0

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def answer(self, *answers: int | Answer) -> None:
        with self.lock:
            self.answers = [a if isinstance(a, tuple) else (a, {}) for a in answers]

    def _next(self, request: Received) -> Answer:
        with self.lock:
            self.received.append(request)
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def messages(self, predicate: Callable[[Received], bool] = lambda r: True) -> list[Received]:
        with self.lock:
            return [r for r in self.received if predicate(r)]


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            request = Received(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            status, headers = receiver._next(request)
            time.sleep(receiver.delay_s)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="receiver")
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
