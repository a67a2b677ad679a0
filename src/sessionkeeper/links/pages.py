"""The small HTML pages of a link's url: the companion page, and the 404/410 answers.

They make no request to another site (no fonts, no images, no script from elsewhere), work
without JavaScript (the target is a plain link), and tell the browser to send no referrer, so
the link's token in the address never reaches the target.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from sessionkeeper.links.rules import Counters

# The page's own script is the tracker from this server; styles are inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
}

_STYLE = """
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f6f8;
color:#1d2733}main{max-width:34rem;margin:12vh auto;padding:2rem;background:#fff;
border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08)}h1{font-size:1.4rem;margin:0 0 .5rem}
.button{display:inline-block;margin:1rem 0;padding:.7rem 1.3rem;border-radius:8px;
background:#2457c5;color:#fff;text-decoration:none;font-weight:600}
.button:focus,.button:hover{background:#1b449d}.muted{color:#5b6875;font-size:.9rem}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _target_name(target_url: str) -> str:
    parts = urlsplit(target_url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return parts.hostname
    return {"zoommtg": "Zoom", "msteams": "Microsoft Teams"}.get(parts.scheme, parts.scheme)


def companion(
    *,
    kind: str,
    target_url: str,
    tracker_path: str,
    api: str,
    tracker_token: str,
    interval_s: float,
    continued: bool,
    counters: Counters,
) -> str:
    name = _target_name(target_url)
    # A reloaded page counts on from the totals its session has reported.
    again = (
        f' data-continued="1" data-engaged="{counters.engaged_ms}" '
        f'data-visible="{counters.visible_ms}" data-wall="{counters.wall_ms}" '
        f'data-seq="{counters.seq}"'
        if continued
        else ""
    )
    script = (
        f'<script defer src="{escape(tracker_path)}" data-api="{escape(api)}" '
        f'data-token="{escape(tracker_token)}" '
        f'data-mode="companion" data-interval="{interval_s:g}" data-open="#open"{again}>'
        "</script>"
    )
    body = (
        f"<h1>Your {escape(kind)} is open</h1>"
        "<p>Keep this page open while it lasts: it records how long it takes. "
        "Close this page when you are done.</p>"
        f'<a id="open" class="button" href="{escape(target_url)}" target="_blank" '
        f'rel="noopener noreferrer">Open {escape(name)}</a>'
        f'<p class="muted" id="sk-status">{"Continuing" if continued else "Started"}: '
        "this page counts while it is open.</p>"
        f"{script}"
    )
    return _page(f"{kind} — open", body)


def preview(*, kind: str, target_url: str) -> str:
    """The companion page as a link preview sees it: the link, no tracker."""
    body = (
        f"<h1>Your {escape(kind)}</h1>"
        f'<a class="button" href="{escape(target_url)}" rel="noopener noreferrer">'
        f"Open {escape(_target_name(target_url))}</a>"
    )
    return _page(kind, body)


def gone(message: str) -> str:
    return _page("Link no longer usable", f"<h1>Link no longer usable</h1><p>{escape(message)}</p>")


def not_found() -> str:
    return _page("No such link", "<h1>No such link</h1><p>Check the address you were given.</p>")
