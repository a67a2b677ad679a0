"""The dashboard's pages, server-rendered under ``/admin`` (HTTP only here).

Pages answer GET and change nothing; every change is a POST with the login's CSRF token
(``actions.py``). Not part of the API's OpenAPI document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse
from starlette.responses import Response

from sessionkeeper.api.routing import api_router
from sessionkeeper.api.session_reports import CSV_MEDIA_TYPE
from sessionkeeper.api.sessions import decode_cursor, encode_cursor
from sessionkeeper.dashboard import rules
from sessionkeeper.dashboard.web import (
    HERE,
    PREFIX,
    Visitor,
    base,
    current,
    get_dashboard,
    page,
    secured,
)
from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.listing import Cursor, SessionFilter, SessionOrder, SortKey
from sessionkeeper.domain.public_ids import MAX_PUBLIC_ID
from sessionkeeper.errors import InvalidInput, NotFound
from sessionkeeper.quality.rules import GroupBy as QualityGroupBy
from sessionkeeper.quality.service import MAX_DAYS

router = api_router(prefix=PREFIX, include_in_schema=False)

STATIC = HERE / "static"
# The files served from static/, and their types: nothing else of the package is reachable.
STATIC_FILES = {
    "htmx.min.js": "text/javascript",
    "chart.umd.min.js": "text/javascript",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
MAX_PAGE = 500
# "Ended at any time": the filter of closed sessions.
CLOSED_SINCE = "1970-01-01T00:00:00Z"

NOTICES = {
    "ended": "The session was ended (end reason admin). The audit log records it.",
    "swept": "The sweep ran. The audit log records it.",
    "cleaned": "The cleanup ran. The audit log records it.",
    "tenant": "Switched tenant.",
    "revoked": "The invitation was revoked. The audit log records it.",
    "withdrawn": "The link was withdrawn: its url answers 410 from now on. The audit log "
    "records it.",
}


@router.get("/static/{name}")
async def static(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise NotFound(f"no dashboard asset {name!r}")
    response = FileResponse(Path(STATIC / name), media_type=media_type)
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("")
async def overview(request: Request, notice: str | None = None) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    counters = await get_dashboard(request).counters(visitor.principal)
    return page("overview.html", request, visitor, c=counters, notice=NOTICES.get(notice or ""))


@router.get("/")
async def overview_with_slash(request: Request) -> Response:
    """``/admin/``, as people type it: the app redirects no other trailing slash."""
    return RedirectResponse(base(request), status_code=308)


@router.get("/fragments/counters")
async def counters(request: Request) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    found = await get_dashboard(request).counters(visitor.principal)
    return page("_counters.html", request, visitor, c=found)


@router.get("/charts.json")
async def charts(request: Request) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    found = await get_dashboard(request).charts(visitor.principal)
    return secured(JSONResponse(found.to_json()))


def _filters(request: Request) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The session filters of the query, with the form's ``subject=field=value`` inputs read
    as ``subject.field=value``; and the page's own parameters."""
    pairs: list[tuple[str, str]] = []
    for name, value in request.query_params.multi_items():
        if name == "subject":
            field, eq, wanted = value.partition("=")
            if not value.strip():
                continue
            if not eq:
                raise InvalidInput("subject filters are written field=value", field="subject")
            pairs.append((f"subject.{field.strip()}", wanted.strip()))
        elif name != "q":
            pairs.append((name, value))
    return rules.split_query(pairs)


@router.get("/sessions")
async def sessions(
    request: Request,
    q: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    dashboard = get_dashboard(request)
    if q is not None and q.strip():
        # Search: a session id opens that session; anything else is a user's sessions.
        found = await dashboard.find(visitor.principal, q.strip())
        if found is not None:
            target = f"{base(request)}/sessions/{found.id}"
        else:
            target = f"{base(request)}/sessions?{urlencode({'user_id': q.strip()})}"
        return secured(RedirectResponse(target, status_code=303))
    try:
        pairs, own = _filters(request)
        where = SessionFilter.parse(pairs, assume_utc=True)
        order = _order(own.get("order"))
        limit = _limit(own.get("limit"))
        after = decode_cursor(own.get("cursor"))
    except InvalidInput as exc:
        # The form as it was sent, so the refused value can be corrected in place.
        sent = [
            (k, v)
            for k, v in request.query_params.multi_items()
            if k not in (*rules.PAGE_PARAMETERS, "q", "subject")
        ]
        return page(
            "sessions.html",
            request,
            visitor,
            status_code=422,
            error=exc.detail,
            **_form_state(request, sent, {}),
        )
    rows, next_cursor = await dashboard.sessions(
        visitor.principal, where, order=order, limit=limit, after=after
    )
    state = _form_state(request, pairs, own)
    next_query = urlencode([*pairs, ("order", order.value), ("limit", str(limit))])
    state.update(
        rows=rows,
        next_url=(
            None
            if next_cursor is None
            else f"{base(request)}/sessions?{next_query}&cursor={encode_cursor(next_cursor)}"
        ),
        first_url=f"{base(request)}/sessions?{next_query}" if own.get("cursor") else None,
        export_url=f"{base(request)}/sessions/export.csv?{urlencode(_view_filters(pairs, order))}",
        sorted_by=(order.key.value, "ascending" if order.ascending else "descending"),
        # The headings that sort: each link keeps the filters and asks for its order.
        sort_urls={
            key.value: f"{base(request)}/sessions?"
            + urlencode([*pairs, ("order", rules.heading_order(order, key).value)])
            for key in SortKey
        },
    )
    return page("sessions.html", request, visitor, error=None, **state)


def _view_filters(pairs: list[tuple[str, str]], order: SessionOrder) -> list[tuple[str, str]]:
    """The filters of the view as shown: ordered by end or duration, it lists closed
    sessions only, which the export then asks for too."""
    if order.key is SortKey.STARTED or any(name == "ended_after" for name, _ in pairs):
        return pairs
    return [*pairs, ("ended_after", CLOSED_SINCE)]


def _order(raw: str | None) -> SessionOrder:
    if not raw:
        return SessionOrder.NEWEST
    try:
        return SessionOrder(raw)
    except ValueError:
        names = ", ".join(order.value for order in SessionOrder)
        raise InvalidInput(f"order must be one of {names}", field="order") from None


def _limit(raw: str | None) -> int:
    if not raw:
        return rules.DEFAULT_PAGE
    # ASCII digits only: str.isdigit() also takes '²' and '①', which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", field="limit")
    return int(raw)


def _form_state(
    request: Request, pairs: list[tuple[str, str]], own: dict[str, str]
) -> dict[str, Any]:
    values = dict(pairs)
    subjects = [f"{k[len('subject.') :]}={v}" for k, v in pairs if k.startswith("subject.")]
    return {
        "f": values,
        "subjects": subjects,
        "order": own.get("order") or SessionOrder.NEWEST.value,
        # The column the table is ordered by, and which way (the heading's aria-sort).
        "sorted_by": ("started", "descending"),
        "orders": rules.ORDER_LABELS,
        "limit": own.get("limit") or str(rules.DEFAULT_PAGE),
        "statuses": ["active", "ended", "timed_out", "expired"],
        "rows": [],
        "next_url": None,
        "first_url": None,
        "export_url": f"{base(request)}/sessions/export.csv",
        "sort_urls": {key.value: f"{base(request)}/sessions" for key in SortKey},
    }


@router.get("/sessions/export.csv")
async def export(request: Request) -> Response:
    """The CSV of exactly the filtered view: the API export's rows and columns."""
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    pairs, _ = _filters(request)
    where = SessionFilter.parse(pairs, assume_utc=True)
    chunks = await get_dashboard(request).export(visitor.principal, where)

    async def encoded() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            yield chunk.encode()

    return secured(
        StreamingResponse(
            encoded(),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": 'attachment; filename="sessions.csv"'},
        )
    )


@router.get("/sessions/{session_id}")
async def session(request: Request, session_id: str, notice: str | None = None) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    try:
        detail = await get_dashboard(request).detail(visitor.principal, session_id)
    except NotFound as exc:
        return page("missing.html", request, visitor, status_code=404, what=exc.detail)
    return page(
        "session.html",
        request,
        visitor,
        d=detail,
        s=detail.session,
        notice=NOTICES.get(notice or ""),
    )


def next_page_url(request: Request, path: str, cursor: Cursor | None) -> str | None:
    """The url of a listing's next page (None on the last), its cursor in the query."""
    return None if cursor is None else f"{base(request)}{path}?cursor={encode_cursor(cursor)}"


@router.get("/rooms")
async def rooms(request: Request, cursor: str | None = None) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    found, next_cursor = await get_dashboard(request).rooms(
        visitor.principal, limit=rules.DEFAULT_PAGE, after=decode_cursor(cursor)
    )
    next_url = next_page_url(request, "/rooms", next_cursor)
    return page("rooms.html", request, visitor, rooms=found, next_url=next_url)


@router.get("/links")
async def links(request: Request, cursor: str | None = None, notice: str | None = None) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    found, next_cursor = await get_dashboard(request).links(
        visitor.principal, limit=rules.DEFAULT_PAGE, after=decode_cursor(cursor)
    )
    next_url = next_page_url(request, "/links", next_cursor)
    return page(
        "links.html",
        request,
        visitor,
        links=found,
        next_url=next_url,
        notice=NOTICES.get(notice or ""),
    )


@router.get("/quality")
async def quality(
    request: Request,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30,
    group_by: QualityGroupBy = QualityGroupBy.KIND,
) -> Response:
    """The data-quality report (``GET /v1/metrics/quality``) as a page."""
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    report = await get_dashboard(request).quality(
        visitor.principal, days_back=days, group_by=group_by
    )
    return page(
        "quality.html",
        request,
        visitor,
        report=report,
        days=days,
        groupings=list(QualityGroupBy),
        reasons=list(EndReason),
    )


@router.get("/audit")
async def audit(
    request: Request, before: Annotated[int | None, Query(ge=1, le=MAX_PUBLIC_ID)] = None
) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    entries, next_before = await get_dashboard(request).audit(
        visitor.principal, limit=rules.DEFAULT_PAGE, before=before
    )
    next_url = None if next_before is None else f"{base(request)}/audit?before={next_before}"
    return page("audit.html", request, visitor, entries=entries, next_url=next_url)
