"""Request bodies as the routes see them: gzip decoded, and never over their cap.

A client may send ``Content-Encoding: gzip`` (a presence snapshot of 10,000 entries shrinks
about tenfold). The cap of a route applies to the body *as decoded*, so compression never
lets a larger body in, and decoding stops as soon as the output passes the cap: a small
compressed body that would inflate to gigabytes (a zip bomb) costs no more than the cap in
memory and gets 413 like any other body that is too large. Any other content coding gets 415.

Bodies are checked while they stream in, whether or not their size was announced.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from starlette._utils import get_route_path
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionkeeper.api.errors import HTTP_TITLES, send_problem

# Content codings a client may send; "identity" is the absence of one.
SUPPORTED_ENCODINGS = ("gzip", "x-gzip")
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class BodyRefused(HTTPException):
    """Raised while the body streams in. FastAPI lets HTTP exceptions through body parsing,
    so the app's handler answers it as a problem; before the app reads the body, the
    middleware answers it itself."""

    def __init__(
        self, status: int, detail: str, *, code: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, detail, headers=dict(headers) if headers else None)
        self.code = code


def too_large(limit: int, *, decoded: bool) -> BodyRefused:
    if decoded:
        return BodyRefused(
            413,
            f"request bodies are limited to {limit} bytes once decoded",
            code="decoded_too_large",
        )
    return BodyRefused(413, f"request bodies are limited to {limit} bytes", code="body_too_large")


def _encodings(scope: Scope) -> list[str]:
    codings: list[str] = []
    for name, value in scope["headers"]:
        if name == b"content-encoding":
            codings.extend(c.strip().lower() for c in value.decode("latin-1").split(","))
    return [c for c in codings if c and c != "identity"]


def _announced_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


class GzipDecoder:
    """Inflates a gzip stream (one member or several) without ever holding more than
    ``limit`` decoded bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.decoded = 0
        self._inflate = zlib.decompressobj(_GZIP_WBITS)

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        while data:
            try:
                chunk = self._inflate.decompress(data, self.limit + 1 - self.decoded)
            except zlib.error as exc:
                raise _malformed() from exc
            out += chunk
            self.decoded += len(chunk)
            if self.decoded > self.limit:
                raise too_large(self.limit, decoded=True)
            if self._inflate.unconsumed_tail:
                data = self._inflate.unconsumed_tail
            elif self._inflate.eof and self._inflate.unused_data:
                data = self._inflate.unused_data  # the next gzip member
                self._inflate = zlib.decompressobj(_GZIP_WBITS)
            else:
                data = b""
        return bytes(out)

    def finish(self) -> None:
        if not self._inflate.eof:
            raise _malformed()


def _malformed() -> BodyRefused:
    return BodyRefused(422, "the body is not valid gzip data", code="malformed_gzip")


async def send_refusal(send: Send, refused: BodyRefused) -> None:
    """Answer a refused body as a problem, from outside the app."""
    status = refused.status_code
    extra: dict[str, object] = {"code": refused.code}
    if status == 422:
        extra.update(field="body", errors=[{"field": "body", "message": refused.detail}])
    title = HTTP_TITLES[status]
    slug = title.lower().replace(" ", "-")
    await send_problem(
        send, status, title, refused.detail, slug=slug, headers=refused.headers, **extra
    )


class RequestBody:
    """Decode gzip bodies and refuse any body over its route's cap (413) or in a content
    coding this server does not speak (415).

    ``limit`` is the cap of every route; ``larger`` raises it for the routes under a path
    prefix (the presence endpoints take snapshots of 10,000 entries).
    """

    def __init__(self, app: ASGIApp, *, limit: int, larger: Mapping[str, int]) -> None:
        self.app = app
        self.limit = limit
        self.larger = dict(larger)

    def limit_for(self, scope: Scope) -> int:
        path = get_route_path(scope)
        return next(
            (cap for prefix, cap in self.larger.items() if path.startswith(prefix)), self.limit
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        try:
            decoder = self._decoder(scope, limit)
        except BodyRefused as refused:
            await send_refusal(send, refused)
            return
        if decoder is not None:
            # The app sees the decoded body: its length and coding are no longer the wire's.
            scope = dict(scope)
            scope["headers"] = [
                (name, value)
                for name, value in scope["headers"]
                if name not in (b"content-encoding", b"content-length")
            ]
        received = 0
        started = False

        async def checked_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] != "http.request":
                return message
            data = message.get("body", b"")
            received += len(data)
            if received > limit:
                raise too_large(limit, decoded=False)
            if decoder is not None:
                data = decoder.feed(data)
                if not message.get("more_body", False):
                    decoder.finish()
                message = {**message, "body": data}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, checked_receive, tracking_send)
        except BodyRefused as refused:
            if not started:
                await send_refusal(send, refused)

    def _decoder(self, scope: Scope, limit: int) -> GzipDecoder | None:
        codings = _encodings(scope)
        if len(codings) > 1 or any(c not in SUPPORTED_ENCODINGS for c in codings):
            raise BodyRefused(
                415,
                f"Content-Encoding {', '.join(codings)!r} is not supported; send gzip or none",
                code="unsupported_encoding",
                headers={"Accept-Encoding": "gzip"},
            )
        announced = _announced_length(scope)
        if announced is not None and announced > limit:
            raise too_large(limit, decoded=False)
        return GzipDecoder(limit) if codings else None
