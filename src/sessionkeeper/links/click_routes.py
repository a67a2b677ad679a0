"""A link's url, ``GET /t/{token}``: no API key; the click starts a session.

``redirect`` links answer 302 to the target at once. ``companion`` links answer a small page
that opens the target and heartbeats while it stays open. Either way a cookie scoped to the
link's path keeps the click's tracker token, so a reload or a second tab of the same click
continues its session instead of starting another.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from sessionkeeper.api.deps import ServicesDep
from sessionkeeper.api.routing import api_router
from sessionkeeper.errors import Gone, NotFound
from sessionkeeper.links import pages, rules
from sessionkeeper.links.container import LinkServices
from sessionkeeper.links.rules import Mode
from sessionkeeper.links.store import Link

router = api_router(tags=["links"], include_in_schema=False)

COOKIE = "sk_click"
# Long enough for any lesson; the session's own life decides whether a reload continues it.
COOKIE_MAX_AGE_S = 24 * 3600
MAX_TOKEN_CHARS = 64


@router.get("/t/{token}")
async def click_link(token: str, request: Request, services: ServicesDep) -> Response:
    """Record the click and start (or continue) its session; see the module's docstring."""
    if len(token) > MAX_TOKEN_CHARS:
        return HTMLResponse(pages.not_found(), status_code=404, headers=pages.HEADERS)
    cookie = request.cookies.get(COOKIE)
    feature = services.of(LinkServices)
    user_agent = request.headers.get("user-agent")
    try:
        if rules.is_bot(user_agent):
            return _preview(await feature.links.peek(token))
        clicked = await feature.links.click(token, cookie, user_agent)
    except NotFound:
        return HTMLResponse(pages.not_found(), status_code=404, headers=pages.HEADERS)
    except Gone as exc:
        return HTMLResponse(pages.gone(str(exc)), status_code=410, headers=pages.HEADERS)
    response: Response
    if clicked.link.mode == Mode.REDIRECT:
        response = RedirectResponse(clicked.link.target_url, status_code=302)
        response.headers.update(pages.HEADERS)
    else:
        settings = services.runtime.settings
        root = request.scope.get("root_path", "").rstrip("/")
        page = pages.companion(
            kind=clicked.link.kind,
            target_url=clicked.link.target_url,
            tracker_path=root + settings.tracker_path,
            # The tracker's endpoints are this server's, wherever the script is served from.
            api=str(request.base_url).rstrip("/"),
            tracker_token=clicked.tracker_token,
            interval_s=clicked.session.interval_ms / 1000,
            continued=clicked.continued,
            counters=clicked.counters,
        )
        response = HTMLResponse(page, headers=pages.HEADERS)
    response.set_cookie(
        COOKIE,
        clicked.tracker_token,
        max_age=COOKIE_MAX_AGE_S,
        path=request.url.path,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


def _preview(link: Link) -> Response:
    """What a link preview or crawler gets: where the link leads, and no session."""
    if link.mode == Mode.REDIRECT:
        response: Response = RedirectResponse(link.target_url, status_code=302)
        response.headers.update(pages.HEADERS)
        return response
    return HTMLResponse(
        pages.preview(kind=link.kind, target_url=link.target_url), headers=pages.HEADERS
    )
