"""Harness of the browser tests: a real server, a plain web site on another origin, and
Debian's Chromium driven by Playwright (never ``playwright install``)."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

CHROMIUM = "/usr/bin/chromium"


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing and CI=true: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")


@dataclass
class Site:
    """A plain web site on its own origin: the pages that embed the tracker."""

    port: int
    pages: dict[str, str] = field(default_factory=dict)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serve_site() -> Iterator[Site]:
    site = Site(port=0)

    class Pages(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = site.pages.get(self.path.split("?")[0])
            body = (page or "not found").encode()
            self.send_response(200 if page is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    site.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def snippet_page(server: str, key: str, *, title: str = "Lesson notes") -> str:
    """A plain page with the one-line snippet, and a note of whether it came back from the
    back-forward cache."""
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f'<h1>{title}</h1><a id="next" href="/other">next</a>'
        "<script>addEventListener('pageshow',function(e){window.restored=e.persisted})</script>"
        f'<script defer src="{server}/tracker.js" data-key="{key}" data-kind="page" '
        'data-user="alice"></script></body></html>'
    )


def chromium_processes(profile: Path) -> list[psutil.Process]:
    """The Chromium processes of the browser started with ``profile``: ours, by their
    command line."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if any(str(profile) in part for part in cmdline):
            found.append(process)
    return found


def admin_client(base_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
