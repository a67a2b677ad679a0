"""The served tracker is small, and it is the pinned minifier's output of js/tracker.js."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sessionkeeper.links.tracker_routes import GZIP_BUDGET_BYTES
from tests.support import Harness, running_app

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "js" / "tracker.js"
STATIC = ROOT / "src" / "sessionkeeper" / "links" / "static"
MINIFIED = STATIC / "tracker.min.js"
RECORD = json.loads((STATIC / "tracker.json").read_text())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_served_script_is_at_most_2_kib_gzipped(api: Harness) -> None:
    response = await api.client.get("/tracker.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.content == MINIFIED.read_bytes()
    # What goes over the wire: the app compresses it (GZipMiddleware, level 6).
    assert response.headers["content-encoding"] == "gzip"
    assert len(gzip.compress(response.content, compresslevel=6)) <= GZIP_BUDGET_BYTES
    # No build step for users and no dependency: one plain script, nothing it imports.
    assert b"import " not in response.content and b"require(" not in response.content
    # Never unload/beforeunload: they keep a page out of the back-forward cache.
    source = SOURCE.read_text()
    assert '"unload"' not in source and '"beforeunload"' not in source
    assert '"pagehide"' in source and '"pageshow"' in source and "keepalive: true" in source


async def test_the_script_path_is_a_setting(sqlite_url: str) -> None:
    async with running_app(sqlite_url, tracker_path="/assets/sk.js") as api:
        assert (await api.client.get("/assets/sk.js")).content == MINIFIED.read_bytes()
        assert (await api.client.get("/tracker.js")).status_code == 404
        link = await api.post(
            "/v1/links",
            {"target_url": "https://zoom.us/j/1", "kind": "lesson", "mode": "companion"},
        )
        page = await api.client.get("/t/" + link.json()["token"])
        assert 'src="/assets/sk.js" data-api="http://sk.test"' in page.text


def test_the_minified_copy_is_recorded_from_this_source() -> None:
    """Without node: the record names the source the committed copy was made from."""
    assert sha256(SOURCE) == RECORD["source_sha256"], (
        "js/tracker.js changed: run `npm --prefix js ci && npm --prefix js run build` and "
        "update src/sessionkeeper/links/static/tracker.json"
    )
    assert sha256(MINIFIED) == RECORD["minified_sha256"]


def _without_npm(why: str) -> None:
    """Locally, a machine without node or the npm registry still checks the recorded hashes
    (the test above); CI has both, and must run the minifier."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} and CI=true: the minifier check must run")
    pytest.skip(why)


def test_the_minified_copy_is_the_pinned_minifiers_output(tmp_path: Path) -> None:
    js = ROOT / "js"
    lock = json.loads((js / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/terser"]["version"] == "5.46.0"
    if shutil.which("npm") is None:
        _without_npm("node is not installed")
    if not (js / "node_modules" / ".bin" / "terser").exists():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=js, capture_output=True, text=True
        )
        if installed.returncode != 0:
            _without_npm(f"npm ci failed: {installed.stderr[-300:]}")
    out = tmp_path / "tracker.min.js"
    subprocess.run(
        [
            str(js / "node_modules" / ".bin" / "terser"),
            str(SOURCE),
            "--compress",
            "--mangle",
            "--comments",
            "false",
            "--output",
            str(out),
        ],
        check=True,
    )
    assert out.read_bytes() == MINIFIED.read_bytes()
