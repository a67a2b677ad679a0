"""The single heartbeat, the busiest request of the service: its body, its answer, and a
route that answers the plain case without FastAPI's per-request machinery.

Per request FastAPI solves the dependencies, opens exit stacks and validates the body through
its own layers. On a heartbeat that was about a quarter of the event loop's time (per-thread
CPU of a server at 1,000 heartbeats/s on PostgreSQL: the loop's thread at 50% of a core with
it, 37% without). :class:`HeartbeatRoute` answers the plain case itself — no body, or a JSON
object the same model validates, from a caller the same dependency authenticates — and hands
everything else (a body that does not parse or validate, another content type) to the route
FastAPI declared, so every refusal of a body is FastAPI's own, word for word, and the OpenAPI
document is the declared route's. Errors of the call itself (the key, the session) are the
same exceptions either way, answered by the same handlers.
"""

from __future__ import annotations

from email.message import Message as MediaType

from fastapi import Request, Response
from pydantic import Field
from pydantic_core import to_json
from starlette.types import Message, Receive, Scope, Send

from sessionkeeper.api.deps import ingest_principal, services_of
from sessionkeeper.api.fields import Attributes, ClientTime, WriteBody, ms_or_none
from sessionkeeper.api.responses import SessionOut
from sessionkeeper.api.strict_json import StrictJSONRoute, strict_loads
from sessionkeeper.domain.principal import Principal
from sessionkeeper.services.sessions import HeartbeatResult, SessionService


class HeartbeatBody(WriteBody):
    at: ClientTime | None = None
    attributes: Attributes | None = None


class HeartbeatOut(SessionOut):
    """The session after the heartbeat, and whether the beat changed anything."""

    applied: bool = Field(
        description="False when the beat is older than the session's last_seen_at: it, and "
        "its attributes, changed nothing (older state), as a stale presence snapshot"
    )
    reason: str | None = Field(default=None, description="Why the beat was not applied")


async def answer(
    sessions: SessionService, principal: Principal, session_id: str, body: HeartbeatBody
) -> Response:
    """Beat the session; the answer, serialised once (a model returned would be validated
    again against the response model)."""
    result = await sessions.heartbeat(
        principal, session_id, at=ms_or_none(body.at), attributes=body.attributes
    )
    return Response(encoded(result), media_type="application/json")


def encoded(result: HeartbeatResult) -> bytes:
    """``HeartbeatOut`` of ``result`` as JSON: the fields it holds, in its order, written by
    pydantic's own encoder, byte for byte what the model would write, without building the
    model (which took a third of the answer's time; ``tests/unit/test_heartbeat_answer.py``
    compares the two)."""
    fields = SessionOut.fields_of(result.session)
    return to_json({**fields, "applied": result.applied, "reason": result.reason})


# Set in a request's scope by the express lane when it found the body not plain: the
# declared route answers it, without the same body being judged again.
DECLARED = "sessionkeeper.declared"


class HeartbeatRoute(StrictJSONRoute):
    """The declared heartbeat route, answering the plain case without FastAPI's layers."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            await super().handle(scope, receive, send)  # its 405
            return
        messages, complete = await read_body(receive)
        replay = replaying(messages, receive)
        # A query string is no plain case: the declared route refuses parameters it lacks.
        plain = complete and DECLARED not in scope and not scope.get("query_string")
        body = self.plain(scope, messages) if plain else None
        if body is None:
            await super().handle(scope, replay, send)
            return
        response = await self.respond(scope, replay, body)
        await response(scope, replay, send)

    def plain(self, scope: Scope, messages: list[Message]) -> HeartbeatBody | None:
        """The body when it is the plain case, else None (the declared route decides)."""
        raw = b"".join(message.get("body", b"") for message in messages)
        if not raw:
            return HeartbeatBody()
        if not _is_json(scope):
            return None
        try:
            return HeartbeatBody.model_validate(strict_loads(raw))
        # JSONDecodeError and ValidationError are ValueErrors; a deeply nested body exhausts
        # the decoder's recursion.
        except (ValueError, RecursionError):
            return None

    async def respond(self, scope: Scope, receive: Receive, body: HeartbeatBody) -> Response:
        """The answer to a plain body. Errors of the call (the key, the session) are raised,
        for the app's handlers to answer."""
        request = Request(scope, receive)
        principal = await ingest_principal(request)
        session_id = scope["path_params"]["session_id"]
        return await answer(services_of(request).sessions, principal, session_id, body)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            if value == b"application/json":
                return True  # what clients send, known without parsing
            media = MediaType()
            media["content-type"] = value.decode("latin-1")
            return media.get_content_type() == "application/json"
    return False  # FastAPI reads a body without a content type too: let it


async def read_body(receive: Receive) -> tuple[list[Message], bool]:
    """The messages of the request's body as they came, and whether it came whole (not cut
    off by the client's disconnect)."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        if not message.get("more_body", False):
            return messages, True


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives the messages read already, as they came, then what the server's
    gives next (the client's disconnect, whenever it comes)."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
