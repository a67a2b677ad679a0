"""What every dashboard page shares: the templates, the login read from the cookie, the
security headers, and the answers for a visitor who is not logged in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sessionkeeper.dashboard.rules import COOKIE, CSRF_FIELD, CSRF_HEADER, Login
from sessionkeeper.dashboard.service import Dashboard
from sessionkeeper.domain.principal import Credential, Principal
from sessionkeeper.domain.times import api_time
from sessionkeeper.errors import Forbidden, Unauthorized

HERE = Path(__file__).parent
PREFIX = "/admin"

# Scripts and styles come from this server only; no page may be framed (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _time(ms: int | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return api_time(ms)


def _duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _seconds(ms: int | None) -> str:
    if not ms:
        return "—"
    return f"{ms / 1000:g} s" if ms < 600_000 else _duration(ms)


templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(time=_time, iso=_iso, duration=_duration, seconds=_seconds, urlpart=quote)


def get_dashboard(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.services.of(Dashboard)
    return dashboard


@dataclass(frozen=True, slots=True)
class Visitor:
    """A logged-in dashboard user on one request."""

    login: Login
    principal: Principal
    csrf: str
    operator: bool
    tenants: list[str]


async def current(request: Request) -> Visitor | Response:
    """The visitor of a request, or the answer that sends them to the login page."""
    dashboard = get_dashboard(request)
    access = dashboard.access
    login = access.read(request.cookies.get(COOKIE))
    if login is None:
        return to_login(request)
    try:
        principal = await access.principal(login)
    except (Unauthorized, Forbidden):  # revoked since, or the tenant is gone
        return to_login(request)
    # Only the operator key's logins act as the operator; a tenant's key acts as itself.
    operator = principal.credential is Credential.OPERATOR
    tenants = await access.tenants() if operator else []
    return Visitor(login, principal, access.csrf(login), operator, tenants)


def to_login(request: Request) -> Response:
    """Where a visitor without a valid login goes: the login page, or for htmx a redirect
    it follows (an error status would only be logged in the page's console)."""
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": f"{base(request)}/login"})
    target = base(request) + request.url.path.partition(PREFIX)[2]
    if request.url.query:
        target += "?" + request.url.query
    return secured(
        RedirectResponse(f"{base(request)}/login?next={quote(target, safe='')}", status_code=303)
    )


def secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def page(
    template: str,
    request: Request,
    visitor: Visitor | None = None,
    *,
    status_code: int = 200,
    **values: Any,
) -> Response:
    values.setdefault("notice", None)
    html = templates.get_template(template).render(
        request=request,
        visitor=visitor,
        prefix=base(request),
        csrf_field=CSRF_FIELD,
        csrf_header=CSRF_HEADER,
        **values,
    )
    return secured(HTMLResponse(html, status_code=status_code))


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the only kind the dashboard's forms send)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


async def checked_form(request: Request, visitor: Visitor) -> dict[str, str]:
    """The form of an action, once its CSRF token proved it came from a dashboard page."""
    values = await form(request)
    sent = values.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    get_dashboard(request).access.check_csrf(visitor.login, sent)
    return values


def safe_next(request: Request, target: str | None) -> str:
    """Only a path of the dashboard: never another site (an open redirect)."""
    home = base(request)
    if target and target.startswith(home) and not target.startswith("//"):
        return target
    return home


def base(request: Request) -> str:
    """The dashboard's path as the browser sees it: behind a proxy that serves the app under a
    path (``SESSIONKEEPER_ROOT_PATH``), with that path first."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/") + PREFIX
