"""The browser tracker's endpoints, the tracker script, and publishable keys.

The tracker sends ``text/plain`` JSON (a CORS "simple request": no preflight before each
beat) with the credential in the body, since ``sendBeacon`` cannot set headers:

- ``POST /v1/tracker/start`` ``{key, kind, mode?, user_id?, attributes?, subject?}`` with a
  publishable key (or a Bearer key) → the session and its tracker token;
- ``POST /v1/tracker/beat`` and ``/end`` ``{token, seq, engaged_ms, visible_ms, wall_ms,
  state, at?}``: that one session only.

A publishable key works only from its allowed origins (403 otherwise); the answers carry
``Access-Control-Allow-Origin`` for the page's origin. Preflights, which carry no key, are
answered for origins some live publishable key allows.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from sessionkeeper.api.deps import AdminScope, ServicesDep, authenticate
from sessionkeeper.api.errors import on_domain_error
from sessionkeeper.api.openapi import problems
from sessionkeeper.api.public_ids import IdsDep
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.strict_json import StrictJSONRoute, strict_loads
from sessionkeeper.domain.policy import resolve_policy
from sessionkeeper.domain.public_ids import PublicIds
from sessionkeeper.domain.secrets import digest
from sessionkeeper.domain.times import from_ms
from sessionkeeper.errors import Forbidden, InvalidInput, NotFound, SessionkeeperError
from sessionkeeper.links import rules
from sessionkeeper.links.container import LinkServices
from sessionkeeper.links.keys import PublishableKey
from sessionkeeper.links.schemas import (
    PublishableKeyCreate,
    PublishableKeyCreated,
    PublishableKeyList,
    PublishableKeyOut,
    TrackerSession,
    TrackerStartBody,
    TrackerStarted,
)
from sessionkeeper.links.tracker_service import TrackerStart, report_from
from sessionkeeper.services.container import Services
from sessionkeeper.storage import policies as policy_store

router = api_router(prefix="/v1", tags=["tracker"], route_class=StrictJSONRoute)
# The tracker script; its path comes from the settings (``install_script``).
script_router = api_router(include_in_schema=False)

# Beacons are limited to 64 KiB by browsers; the tracker's reports are far smaller.
MAX_REPORT_BYTES = 64 * 1024
PREFLIGHT_MAX_AGE_S = 600
_STATIC = files("sessionkeeper.links") / "static"
SCRIPT_NAME = "tracker.min.js"
# What the served script may weigh gzipped: it is on every page that embeds it.
GZIP_BUDGET_BYTES = 2048
_TRACKER_ERRORS = problems(401, 403, 404, 409, 413, 422, 429, 503)
# The credential is in the body (a publishable key, or the tracker token), not a header.
_NO_BEARER: dict[str, Any] = {"security": []}


def _feature(services: Services) -> LinkServices:
    return services.of(LinkServices)


def script() -> bytes:
    return (_STATIC / SCRIPT_NAME).read_bytes()


def install_script(path: str) -> APIRouter:
    """A router serving the tracker script at ``path`` (``SESSIONKEEPER_TRACKER_PATH``)."""
    served = api_router(include_in_schema=False)
    body = script()

    async def tracker_script() -> Response:
        return Response(
            body,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    served.add_api_route(path, tracker_script, methods=["GET"])
    return served


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_REPORT_BYTES:
        raise InvalidInput(f"a tracker report is at most {MAX_REPORT_BYTES} bytes", field="body")
    try:
        value = strict_loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(value, dict):
        raise InvalidInput("the body is a JSON object", field="body")
    return value


def _cors(response: Response, origin: str | None) -> Response:
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


async def _answer(request: Request, origin: str | None, exc: SessionkeeperError) -> Response:
    """The problem, readable by the page unless the origin itself was refused."""
    response = await on_domain_error(request, exc)
    return response if isinstance(exc, Forbidden) else _cors(response, origin)


@router.post(
    "/tracker/start",
    status_code=201,
    response_model=TrackerStarted,
    responses=_TRACKER_ERRORS,
    openapi_extra=_NO_BEARER,
)
async def start_tracker_session(request: Request, services: ServicesDep) -> Response:
    """Start a browser session with a publishable key; the answer holds its tracker token."""
    origin = rules.origin_of(request.headers.get("origin"))
    try:
        raw = await _body(request)
        try:
            body = TrackerStartBody.model_validate(raw)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        principal = await authenticate(request, key=body.key)
        started = await _feature(services).tracker.start(
            principal,
            origin,
            TrackerStart(
                kind=body.kind,
                mode=body.mode,
                user_id=body.user_id,
                attributes=body.attributes,
                subject=body.subject,
                user_agent=request.headers.get("user-agent"),
            ),
        )
    except SessionkeeperError as exc:
        return await _answer(request, origin, exc)
    policy = resolve_policy(
        await services.runtime.db.reader.run(
            lambda conn: policy_store.load(conn, principal.tenant_id)
        ),
        body.kind,
    )
    out = TrackerStarted(
        session_id=started.session.id,
        token=started.token,
        heartbeat_interval_s=policy.heartbeat_interval_s,
        hidden_timeout_s=policy.hidden_timeout_s,
    )
    return _cors(
        Response(out.model_dump_json(), status_code=201, media_type="application/json"), origin
    )


async def _report(request: Request, services: Services, *, end: bool) -> Response:
    origin = rules.origin_of(request.headers.get("origin"))
    try:
        raw = await _body(request)
        token = raw.get("token")
        if not isinstance(token, str) or not token or len(token) > 128:
            raise InvalidInput("token is the tracker token the start returned", field="token")
        await services.rate_limits.check_tracker(digest(token))
        unknown = set(raw) - {"token", "seq", "engaged_ms", "visible_ms", "wall_ms", "state", "at"}
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidInput(f"unknown field {name!r}", field=name)
        session = await _feature(services).tracker.report(token, origin, report_from(raw), end=end)
    except SessionkeeperError as exc:
        return await _answer(request, origin, exc)
    attrs = session.attributes
    out = TrackerSession(
        session_id=session.id,
        status=session.status.value,
        engaged_ms=int(attrs.get("engaged_ms", 0)),
        visible_ms=int(attrs.get("visible_ms", 0)),
        wall_ms=int(attrs.get("wall_ms", 0)),
    )
    return _cors(Response(out.model_dump_json(), media_type="application/json"), origin)


@router.post(
    "/tracker/beat",
    response_model=TrackerSession,
    responses=_TRACKER_ERRORS,
    openapi_extra=_NO_BEARER,
)
async def beat_tracker_session(request: Request, services: ServicesDep) -> Response:
    """A heartbeat of the token's session with the tracker's running totals."""
    return await _report(request, services, end=False)


@router.post(
    "/tracker/end",
    response_model=TrackerSession,
    responses=_TRACKER_ERRORS,
    openapi_extra=_NO_BEARER,
)
async def end_tracker_session(request: Request, services: ServicesDep) -> Response:
    """The last report and the end of the token's session (the page was closed)."""
    return await _report(request, services, end=True)


@router.options("/tracker/{action}", include_in_schema=False)
async def tracker_preflight(action: str, request: Request) -> Response:
    """Preflights carry no key, so every origin gets the same answer: one answered only where
    some tenant's key allows the origin told anyone, without a key, which sites use this
    server. The report itself is refused unless its key allows its origin (``check_origin``);
    the tracker's own reports need no preflight at all."""
    origin = rules.origin_of(request.headers.get("origin"))
    if action not in ("start", "beat", "end"):
        raise NotFound(f"no tracker operation '{action}'")
    if origin is None:
        raise Forbidden("a CORS preflight names its Origin", code="origin_not_allowed")
    response = Response(status_code=204)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = "content-type, authorization"
    response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
    return _cors(response, origin)


# --- publishable keys ----------------------------------------------------------------------


def _key_out(key: PublishableKey, ids: PublicIds) -> dict[str, Any]:
    return {
        "id": ids.keys.public(key.key.id),
        "prefix": key.key.prefix,
        "origins": key.origins,
        "created_at": from_ms(key.key.created_at),
        "revoked_at": None if key.key.revoked_at is None else from_ms(key.key.revoked_at),
    }


@router.post("/publishable-keys", status_code=201, response_model=PublishableKeyCreated)
async def create_publishable_key(
    body: PublishableKeyCreate, principal: AdminScope, services: ServicesDep, ids: IdsDep
) -> PublishableKeyCreated:
    """A key for the browser tracker, usable only from ``origins``; shown only now."""
    key, secret = await _feature(services).keys.create(principal, body.origins)
    return PublishableKeyCreated(**_key_out(key, ids), key=secret)


@router.get("/publishable-keys", response_model=PublishableKeyList)
async def list_publishable_keys(
    principal: AdminScope, services: ServicesDep, ids: IdsDep
) -> PublishableKeyList:
    keys = await _feature(services).keys.list(principal)
    return PublishableKeyList(items=[PublishableKeyOut(**_key_out(k, ids)) for k in keys])
