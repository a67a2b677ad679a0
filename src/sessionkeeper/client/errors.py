"""The errors the client raises, built from the server's problem+json bodies.

SessionkeeperError        any answer the client cannot turn into a result
├── NotFound              404: no such session (for this tenant)
├── Conflict              409: contradicts stored state; ``.session`` is the stored session
├── Gone                  410: existed, but can no longer be used (a revoked or expired token)
├── InvalidInput          400, 413, 415, 422: the request was refused; ``.field`` names it
├── Unauthorized          401: no, unknown or revoked API key
├── Forbidden             403: the key's scope does not allow this
├── ServerUnavailable     5xx, 408, 429 or no connection, still so after the retries
└── UnexpectedResponse    any other status, or a body that is not what the API sends

The names mirror the server's own tree (``sessionkeeper.errors``) on purpose, but these are
separate classes: they describe an HTTP answer (status, problem body), not a domain decision,
and a program that runs a server and a client in one process must be able to tell them apart.
Only ``ServerUnavailable`` is worth retrying; every other error repeats if the same request is
sent again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from sessionkeeper.client.models import Session


class SessionkeeperError(Exception):
    """Base of every error raised for a request; ``status`` is None when no answer came."""

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        title: str | None = None,
        type: str | None = None,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.title = title
        self.type = type
        # The whole problem body, for members this tree does not lift into attributes.
        self.problem: Mapping[str, Any] = problem or {}
        # The server's stable name of the exact case (``invite_expired``…), when it gave one.
        code = self.problem.get("code")
        self.code: str | None = code if isinstance(code, str) else None
        # The server's id of the request (its X-Request-ID), to find it in the server's log.
        request_id = self.problem.get("request_id")
        self.request_id: str | None = request_id if isinstance(request_id, str) else None


class NotFound(SessionkeeperError):
    pass


class Conflict(SessionkeeperError):
    """The session in the body lets a caller react (start anew) without another request."""

    def __init__(self, detail: str, *, session: Session | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.session = session


class Gone(SessionkeeperError):
    pass


class InvalidInput(SessionkeeperError):
    def __init__(self, detail: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.field = field
        errors = self.problem.get("errors")
        # Every refused field, when the server listed them (request validation does).
        self.errors: list[Mapping[str, Any]] = errors if isinstance(errors, list) else []


class Unauthorized(SessionkeeperError):
    pass


class Forbidden(SessionkeeperError):
    pass


class ServerUnavailable(SessionkeeperError):
    """Transient: the same request may well succeed later, after ``retry_after`` seconds."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class UnexpectedResponse(SessionkeeperError):
    pass


_BY_STATUS: dict[int, type[SessionkeeperError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    408: ServerUnavailable,
    413: InvalidInput,
    415: InvalidInput,
    422: InvalidInput,
    429: ServerUnavailable,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header; None when absent or not delay-seconds.

    The HTTP-date form is ignored: it depends on the two clocks agreeing, and the server
    sends seconds.
    """
    seconds = None if value is None else value.strip()
    # ASCII digits only: str.isdigit() also takes '²', which float() refuses.
    if seconds is None or not (seconds.isascii() and seconds.isdigit()):
        return None
    return float(seconds)


def unreachable(base_url: str, error: Exception) -> ServerUnavailable:
    """The error for a request that got no answer, even after the retries."""
    return ServerUnavailable(f"no answer from {base_url}: {error!r}")


def error_from_response(response: httpx.Response) -> SessionkeeperError:
    """The error for a non-2xx answer, filled from its problem+json body when it has one."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    problem: Mapping[str, Any] = body if isinstance(body, dict) else {}
    detail = str(problem.get("detail") or response.reason_phrase or f"HTTP {status}")
    common: dict[str, Any] = {
        "status": status,
        "title": problem.get("title"),
        "type": problem.get("type"),
        "problem": problem,
    }
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerUnavailable if status >= 500 else UnexpectedResponse
    if cls is Conflict:
        raw = problem.get("session")
        session = Session.from_json(raw) if isinstance(raw, dict) else None
        return Conflict(detail, session=session, **common)
    if cls is InvalidInput:
        field = problem.get("field")
        return InvalidInput(detail, field=field if isinstance(field, str) else None, **common)
    if cls is ServerUnavailable:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return ServerUnavailable(detail, retry_after=retry_after, **common)
    return cls(detail, **common)
