"""Reads never contradict the rules, limits hold on every write path, and a heartbeat says when
it changed nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import T0, Harness, iso


async def test_an_overdue_session_is_never_shown_as_active(api_any: Harness) -> None:
    api = api_any
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 10, "timeout_s": 30, "grace_s": 5})
    await api.post("/v1/sessions", {"id": "quiet", "user_id": "u", "kind": "app"})
    await api.post("/v1/sessions", {"id": "busy", "user_id": "v", "kind": "app"})
    api.advance(20)
    await api.post("/v1/sessions/busy/heartbeat")
    api.advance(11)  # quiet is overdue; the sweep has not come by
    one = (await api.get("/v1/sessions/quiet")).json()
    assert (one["status"], one["estimated"], one["expires_at"]) == ("timed_out", True, None)
    assert one["ended_at"] == iso(T0 + 5_000).replace("+00:00", "Z")
    listed = {s["id"]: s["status"] for s in (await api.get("/v1/sessions")).json()["items"]}
    assert listed == {"quiet": "timed_out", "busy": "active"}
    active = (await api.get("/v1/sessions", status="active")).json()["items"]
    assert [s["id"] for s in active] == ["busy"]
    timed_out = (await api.get("/v1/sessions", status="timed_out")).json()["items"]
    assert [s["id"] for s in timed_out] == ["quiet"]
    health = (await api.get("/v1/health", details="true")).json()
    assert (health["active_sessions"], health["active_users"]) == (1, 1)
    assert health["overdue_sessions"] == 1
    assert [s["status"] for s in health["overdue"]] == ["timed_out"]
    # What the reads showed is what the sweep then stores.
    await api.post("/v1/maintenance/sweep")
    assert (await api.get("/v1/sessions/quiet")).json() == {**one, "expires_at": None}


async def test_heartbeat_attributes_keep_the_caps_when_merged(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "s", "user_id": "u", "kind": "app"})
    for batch in range(2):  # 2 x 50 keys: at the cap of 100
        attrs = {f"k{batch}-{i}": i for i in range(50)}
        api.advance(1)
        assert (
            await api.post("/v1/sessions/s/heartbeat", {"attributes": attrs})
        ).status_code == 200
    api.advance(1)
    over = await api.post("/v1/sessions/s/heartbeat", {"attributes": {"one-more": 1}})
    assert over.status_code == 422 and over.json()["field"] == "attributes"
    assert "101 keys" in over.json()["detail"]
    # Refused as a whole: neither the attribute nor the beat was stored.
    stored = (await api.get("/v1/sessions/s")).json()
    assert "one-more" not in stored["attributes"] and len(stored["attributes"]) == 100
    assert stored["last_seen_at"] == iso(T0 + 2_000).replace("+00:00", "Z")
    big = {"blob": "x" * 40_000}
    assert (await api.post("/v1/sessions", {"id": "b", "user_id": "u", "kind": "app"})).is_success
    api.advance(1)
    assert (await api.post("/v1/sessions/b/heartbeat", {"attributes": big})).status_code == 200
    api.advance(1)
    more = await api.post("/v1/sessions/b/heartbeat", {"attributes": {"blob2": "y" * 40_000}})
    assert more.status_code == 422 and "bytes" in more.json()["detail"]


async def test_a_heartbeat_says_when_it_changed_nothing(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "s", "user_id": "u", "kind": "app"})
    api.advance(10)
    now = api.clock.now_ms()
    first = (await api.post("/v1/sessions/s/heartbeat", {"attributes": {"page": "a"}})).json()
    assert (first["applied"], first["reason"]) == (True, None)
    # The same moment again: its attributes are applied (same time, newest state).
    same = await api.post("/v1/sessions/s/heartbeat", {"at": iso(now), "attributes": {"x": 1}})
    assert same.json()["applied"] is True and same.json()["attributes"] == {"page": "a", "x": 1}
    # An older beat changes nothing, its attributes neither, and says so.
    older = await api.post(
        "/v1/sessions/s/heartbeat", {"at": iso(now - 5_000), "attributes": {"page": "old"}}
    )
    body = older.json()
    assert older.status_code == 200 and body["applied"] is False
    assert "older" in body["reason"] and body["attributes"] == {"page": "a", "x": 1}


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("postgresql://postgres@127.0.0.1:1/postgres", "Connection refused"),
        ("postgresql://postgres@127.0.0.1:5432/no_such_database_here", 'database "no_such'),
        ("postgresql://no_such_role@127.0.0.1:5432/postgres", 'role "no_such_role"'),
        ("sqlite:////no/such/directory/sk.db", "the directory /no/such/directory does not exist"),
    ],
)
def test_database_errors_name_their_cause(url: str, cause: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sessionkeeper", "migrate"],
        capture_output=True,
        text=True,
        env={"SESSIONKEEPER_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert cause in result.stderr and "Traceback" not in result.stderr
