"""The only place that turns errors into HTTP statuses: RFC 9457 problem+json bodies."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Send

from sessionkeeper import errors
from sessionkeeper.api.responses import SessionOut
from sessionkeeper.logs import REQUEST_ID

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://sessionkeeper.dev/problems/"

STATUS_OF: list[tuple[type[errors.SessionkeeperError], int]] = [
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Gone, 410),
    (errors.InvalidInput, 422),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.TooManyRequests, 429),
    (errors.StorageUnavailable, 503),
]

# Every error status at once. Routes now declare only the statuses they can return: the
# derived ones are added for them, the rest they name with ``api.openapi.problems(404, …)``.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for status in (401, 403, 404, 409, 413, 422, 503)
}


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, title, detail, slug=slug, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


async def send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> None:
    """Answer with a problem straight from ASGI middleware, outside the app's handlers."""
    body = json.dumps(problem_body(status, title, detail, slug=slug, **extra)).encode()
    raw = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    raw.extend((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def problem_body(
    status: int, title: str, detail: str, *, slug: str, **extra: Any
) -> dict[str, Any]:
    """The problem+json object; it names the request being answered, for support."""
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    request_id = REQUEST_ID.get()
    if request_id is not None:
        body["request_id"] = request_id
    return body


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


async def on_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.SessionkeeperError)
    status = next(code for cls, code in STATUS_OF if isinstance(exc, cls))
    extra: dict[str, Any] = {"code": exc.code}
    headers = None
    if isinstance(exc, errors.InvalidInput):
        # Every 422 lists what was refused, whichever layer refused it.
        extra["field"] = exc.field
        extra["errors"] = [{"field": exc.field, "message": exc.detail}]
    if isinstance(exc, errors.Conflict) and exc.session is not None:
        extra["session"] = SessionOut.of(exc.session, **exc.fields).model_dump(mode="json")
    if isinstance(exc, errors.Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, errors.StorageUnavailable):
        headers = {"Retry-After": "2"}
    if isinstance(exc, errors.TooManyRequests):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return problem(status, exc.title, exc.detail, slug=_slug(exc.title), headers=headers, **extra)


# Tags of bodies that take one of several shapes start with this; they are not field names.
UNION_TAG_PREFIX = "~"
_LOCATIONS = ("body", "query", "path", "header")


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [
        str(p) for p in location if p not in _LOCATIONS and not str(p).startswith(UNION_TAG_PREFIX)
    ]
    return ".".join(parts) or "body"


def _describe(err: Any) -> dict[str, str]:
    if err.get("type") == "json_invalid":  # the location is a character offset, not a field
        reason = err.get("ctx", {}).get("error", "JSON decode error")
        return {"field": "body", "message": f"malformed JSON: {reason}"}
    return {"field": _field_name(tuple(err.get("loc", ()))), "message": err.get("msg", "invalid")}


async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe(err) for err in exc.errors()]
    first = problems[0] if problems else {"field": "body", "message": "invalid"}
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return problem(
        422,
        "Invalid input",
        detail,
        slug="invalid-input",
        field=first["field"],
        errors=problems,
    )


HTTP_TITLES = {
    404: "Not found",
    422: "Invalid input",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Body too large",
    415: "Unsupported media type",
}

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route accepts on this path (Starlette names only the first route's).

    Asking each route whether it would take the path with another method works through
    included routers too.
    """
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's only 400: a body it could not decode (bad UTF-8, nesting too deep).
        return problem(
            422,
            "Invalid input",
            "the body could not be decoded as JSON",
            slug="invalid-input",
            field="body",
            errors=[{"field": "body", "message": "the body could not be decoded as JSON"}],
        )
    title = HTTP_TITLES.get(exc.status_code, "HTTP error")
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    extra: dict[str, Any] = {"code": getattr(exc, "code", None)}
    if exc.status_code == 422:  # a body refused while it streamed in (bad gzip)
        extra.update(field="body", errors=[{"field": "body", "message": str(exc.detail)}])
    return problem(
        exc.status_code, title, str(exc.detail), slug=_slug(title), headers=headers or None, **extra
    )


async def on_unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    request_id = REQUEST_ID.get()
    # The server closes the connection after an error the app did not handle (the error goes
    # on up for it to log): the answer says so, so that a client does not send its next
    # request on a connection that is going away.
    headers = {"Connection": "close"}
    # This answer is sent from outside the middleware that adds the header to the others.
    if request_id:
        headers["X-Request-ID"] = request_id
    return problem(
        500,
        "Internal error",
        "an unexpected error occurred",
        slug="internal-error",
        headers=headers,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.SessionkeeperError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
