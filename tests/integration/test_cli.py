"""The operator CLI, run as a real process on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessionkeeper.clock import ManualClock, SystemClock
from tests.support import running_app


def cli(url: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SESSIONKEEPER_DATABASE_URL": url, "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "sessionkeeper", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


async def test_tenants_keys_sessions_and_sweep(url: str) -> None:
    cli(url, "migrate")
    assert "created tenant 'acme'" in cli(url, "tenant", "create", "acme").stdout
    assert "acme" in cli(url, "tenant", "list").stdout
    duplicate = cli(url, "tenant", "create", "acme", ok=False)
    assert duplicate.returncode == 2 and "exists already" in duplicate.stderr

    key = (
        cli(url, "key", "create", "--tenant", "acme", "--scope", "admin")
        .stdout.strip()
        .splitlines()[-1]
    )
    assert key.startswith("sk_")
    listing = cli(url, "key", "list", "--tenant", "acme").stdout
    assert key[:10] in listing and key not in listing

    # The CLI reads with the wall clock: the session must be started by it too, or it would
    # be shown as the rules decide, timed out, long ago.
    async with running_app(url, ManualClock(SystemClock().now_ms())) as api:
        headers = {"Authorization": f"Bearer {key}"}
        response = await api.client.post(
            "/v1/sessions",
            json={"id": "cli-1", "user_id": "ann", "kind": "lesson"},
            headers=headers,
        )
        assert response.status_code == 201
    # And one started on the harness's scripted clock, long ago: overdue by the wall clock.
    async with running_app(url) as api:
        old = await api.client.post(
            "/v1/sessions",
            json={"id": "old-1", "user_id": "bob", "kind": "game"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert old.status_code == 201

    table = cli(url, "sessions", "list", "--tenant", "acme", "--kind", "lesson").stdout
    assert "cli-1" in table and "ann" in table and "active" in table
    assert (
        "cli-1" not in cli(url, "sessions", "list", "--tenant", "acme", "--status", "ended").stdout
    )
    # The harness started it on a scripted clock long ago: the real clock finds it overdue.
    assert "closed 1 overdue sessions" in cli(url, "sweep").stdout
    timed_out = cli(url, "sessions", "list", "--tenant", "acme", "--status", "timed_out").stdout
    assert "old-1" in timed_out and "cli-1" not in timed_out
    assert "closed 0 overdue sessions" in cli(url, "sweep").stdout

    key_id = listing.split("│")[1].strip() if "│" in listing else "1"
    assert "revoked" in cli(url, "key", "revoke", key_id).stdout
    async with running_app(url) as api:
        response = await api.client.get("/v1/sessions", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401


def test_help_lists_the_commands(url: str) -> None:
    out = cli(url, "--help").stdout
    for command in ("serve", "migrate", "tenant", "key", "sweep", "sessions"):
        assert command in out


async def test_rollup_refresh_and_resumable_rebuild(url: str) -> None:
    async with running_app(url) as api:
        await api.post("/v1/sessions", {"id": "s1", "user_id": "u", "kind": "game"})
        api.advance(200)
        await api.post("/v1/sessions/s1/end", {})
    refreshed = cli(url, "rollup").stdout
    assert "refreshed 1 day-parts" in refreshed
    # Every day from the first session to today (the process's own clock) is recomputed.
    rebuilt = cli(url, "rollup", "--rebuild", "--tenant", "default", "--since", "2026-01-05")
    assert "rebuild default" in rebuilt.stdout and "tenant 'default': rebuilt" in rebuilt.stdout
    async with running_app(url) as api:
        rows = (await api.get("/v1/metrics/daily", days=1)).json()["rows"]
        assert [(r["kind"], r["duration_total_s"]) for r in rows] == [("game", 200.0)]
    bad = cli(url, "rollup", "--rebuild", "--since", "yesterday", ok=False)
    assert bad.returncode != 0
