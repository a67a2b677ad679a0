"""The dashboard's changes: log in and out, switch tenant, and the actions by hand (end a
session, run the sweep, run the cleanup), each behind a confirmation page.

Every POST but the login carries the login's CSRF token; the login form carries a value of
its own that must equal its cookie's (double submit), so no other site can log a browser in
under a key of its choosing. After a change the browser is redirected (303), so a reload
never repeats it.
"""

from __future__ import annotations

import math
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from sessionkeeper.api.routing import api_router
from sessionkeeper.dashboard.rules import COOKIE, CSRF_FIELD, LOGIN_COOKIE
from sessionkeeper.dashboard.web import (
    PREFIX,
    Visitor,
    base,
    checked_form,
    current,
    form,
    get_dashboard,
    page,
    safe_next,
    secured,
)
from sessionkeeper.errors import Forbidden, NotFound, Unauthorized

router = api_router(prefix=PREFIX, include_in_schema=False)

ACTIONS = {
    "sweep": (
        "Run the sweep",
        "Close every overdue session of this tenant now, at its estimated end.",
    ),
    "cleanup": (
        "Run the cleanup",
        "Close every inactive room of this tenant now, and its attendances, at their "
        "estimated ends.",
    ),
}


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    nonce = get_dashboard(request).access.new_login_nonce()
    response = page(
        "login.html", request, None, token=nonce, next=safe_next(request, next), error=None
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=3600,
        path=f"{base(request)}/login",
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )
    return response


@router.post("/login")
async def log_in(request: Request) -> Response:
    values = await form(request)
    access = get_dashboard(request).access
    target = safe_next(request, values.get("next"))
    expected = request.cookies.get(LOGIN_COOKIE)
    error = None
    retry_after: int | None = None
    # Every attempt counts, before the key is looked at: guessing costs time.
    wait = await access.login_wait(request.client.host if request.client else "unknown")
    if wait > 0:
        retry_after = math.ceil(wait)
        error = (
            f"Too many login attempts from your address. Wait {retry_after} s before trying again."
        )
        status = 429
    elif not expected or values.get(CSRF_FIELD) != expected:
        error = "The login form expired: please try again."
        status = 403
    else:
        try:
            login = await access.log_in(values.get("key", ""), values.get("tenant") or None)
        except Unauthorized:
            error, status = "Unknown or revoked key.", 401
        except Forbidden:
            error, status = "This key may not administer its tenant: use an admin key.", 403
    if error is not None:
        nonce = access.new_login_nonce()
        response = page(
            "login.html", request, None, status_code=status, token=nonce, next=target, error=error
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=3600,
            path=f"{base(request)}/login",
            httponly=True,
            samesite="strict",
            secure=_https(request),
        )
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response
    response = secured(RedirectResponse(target, status_code=303))
    _set_login(request, response, access.cookie(login))
    response.delete_cookie(LOGIN_COOKIE, path=f"{base(request)}/login")
    return response


def _set_login(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=round(get_dashboard(request).access.ttl_ms / 1000),
        path=base(request),
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )


@router.post("/logout")
async def log_out(request: Request) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    await checked_form(request, visitor)
    await get_dashboard(request).access.log_out(visitor.login)
    response = secured(RedirectResponse(f"{base(request)}/login", status_code=303))
    response.delete_cookie(COOKIE, path=base(request))
    return response


@router.post("/tenant")
async def switch_tenant(request: Request) -> Response:
    """The operator key's tenant switcher: a new login acting on the chosen tenant."""
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    values = await checked_form(request, visitor)
    if not visitor.operator:
        raise Forbidden("only the operator key switches tenants", code="operator_required")
    wanted = values.get("tenant", "")
    if wanted not in visitor.tenants:
        raise NotFound(f"no tenant named {wanted!r}")
    access = get_dashboard(request).access
    login = visitor.login
    switched = type(login)(login.key_digest, wanted, login.expires_at, login.nonce)
    response = secured(RedirectResponse(f"{base(request)}?notice=tenant", status_code=303))
    _set_login(request, response, access.cookie(switched))
    return response


@router.get("/sessions/{session_id}/end")
async def confirm_end(request: Request, session_id: str) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    found = await get_dashboard(request).find(visitor.principal, session_id)
    if found is None:
        return page("missing.html", request, visitor, status_code=404, what=session_id)
    return page(
        "confirm.html",
        request,
        visitor,
        title=f"End session {session_id}",
        explain=(
            f"End {found.user_id}'s {found.kind} session now, with end reason admin. "
            "The end is exact (now) and cannot be undone."
        ),
        action=f"{base(request)}/sessions/{session_id}/end",
        button="End the session",
        back=f"{base(request)}/sessions/{session_id}",
    )


@router.post("/sessions/{session_id}/end")
async def end_session(request: Request, session_id: str) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    await checked_form(request, visitor)
    await get_dashboard(request).end_session(visitor.principal, session_id)
    return secured(
        RedirectResponse(f"{base(request)}/sessions/{session_id}?notice=ended", status_code=303)
    )


@router.get("/actions/{name}")
async def confirm_action(request: Request, name: str) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    if name not in ACTIONS:
        return page("missing.html", request, visitor, status_code=404, what=name)
    title, explain = ACTIONS[name]
    return page(
        "confirm.html",
        request,
        visitor,
        title=title,
        explain=explain,
        action=f"{base(request)}/actions/{name}",
        button=title,
        back=base(request),
    )


@router.post("/actions/{name}")
async def run_action(request: Request, name: str) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    await checked_form(request, visitor)
    dashboard = get_dashboard(request)
    if name == "sweep":
        await dashboard.sweep(visitor.principal)
        notice = "swept"
    elif name == "cleanup":
        await dashboard.cleanup(visitor.principal)
        notice = "cleaned"
    else:
        raise NotFound(f"no dashboard action {name!r}")
    return secured(RedirectResponse(f"{base(request)}?notice={notice}", status_code=303))


@router.get("/invites/{invite_id}/revoke")
async def confirm_revoke(request: Request, invite_id: str, room: str = "") -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    target = f"{base(request)}/invites/{quote(invite_id, safe='')}/revoke"
    return page(
        "confirm.html",
        request,
        visitor,
        title=f"Revoke invitation {invite_id}",
        explain="Joins through this invitation will be refused (410 invite_revoked) from now on.",
        action=f"{target}?{urlencode({'room': room})}",
        button="Revoke the invitation",
        back=f"{base(request)}/sessions/{quote(room, safe='')}" if room else base(request),
    )


@router.post("/invites/{invite_id}/revoke")
async def revoke_invite(request: Request, invite_id: str, room: str = "") -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    await checked_form(request, visitor)
    await get_dashboard(request).revoke_invite(visitor.principal, invite_id, room)
    back = f"{base(request)}/sessions/{quote(room, safe='')}" if room else base(request)
    return secured(RedirectResponse(f"{back}?notice=revoked", status_code=303))


@router.get("/links/{link_id}/withdraw")
async def confirm_withdraw(request: Request, link_id: str) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    return page(
        "confirm.html",
        request,
        visitor,
        title=f"Withdraw link {link_id}",
        explain="Its url will answer 410 from now on; the sessions it started stay as they are.",
        action=f"{base(request)}/links/{quote(link_id, safe='')}/withdraw",
        button="Withdraw the link",
        back=f"{base(request)}/links",
    )


@router.post("/links/{link_id}/withdraw")
async def withdraw_link(request: Request, link_id: str) -> Response:
    visitor = await current(request)
    if not isinstance(visitor, Visitor):
        return visitor
    await checked_form(request, visitor)
    await get_dashboard(request).withdraw_link(visitor.principal, link_id)
    return secured(RedirectResponse(f"{base(request)}/links?notice=withdrawn", status_code=303))
