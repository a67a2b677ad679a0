"""Outcomes on the kernel's session calls: ``POST /v1/sessions/{id}/end`` takes an outcome and
stores it in the end's own transaction; ``GET /v1/sessions/{id}``, the listing, the end, a
retried start, the 409 of a start that collides with a session and
``/v1/sessions/export.csv`` carry ``outcome`` (null when none)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

import sqlalchemy as sa

from tests.support import Harness

OUTCOME = {
    "metrics": {"score": 85.5},
    "counters": {"words_spoken": 120},
    "tags": {"topics": ["travel", "hotels"]},
    "metadata": {"unit": 3, "note": "=not a formula"},
}


def _without_time(outcome: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outcome.items() if k != "updated_at"}


async def _start(api: Harness, session_id: str, user: str = "alice") -> dict[str, Any]:
    r = await api.post("/v1/sessions", {"id": session_id, "user_id": user, "kind": "lesson"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_an_end_with_an_outcome_shows_it_everywhere(api: Harness) -> None:
    started = await _start(api, "s1")
    assert started["outcome"] is None  # a session just started has none
    await _start(api, "s2", user="bob")
    api.advance(60)
    r = await api.post("/v1/sessions/s1/end", {"outcome": OUTCOME}, scope="ingest")
    assert r.status_code == 200, r.text
    ended = r.json()
    assert ended["status"] == "ended" and ended["duration_s"] == 60.0
    assert _without_time(ended["outcome"]) == {
        "metrics": {"score": 85.5},
        "counters": {"words_spoken": 120},
        "tags": {"topics": ["travel", "hotels"]},
        "metadata": {"unit": 3, "note": "=not a formula"},
    }
    assert ended["outcome"]["updated_at"] == "2026-01-05T09:01:00Z"

    one = (await api.get("/v1/sessions/s1", scope="read")).json()
    assert one["outcome"] == ended["outcome"]
    assert (await api.get("/v1/sessions/s2", scope="read")).json()["outcome"] is None
    items = (await api.get("/v1/sessions", scope="read")).json()["items"]
    assert {s["id"]: s["outcome"] for s in items} == {"s1": ended["outcome"], "s2": None}
    # The same outcome as the outcome feature's own read.
    assert (await api.get("/v1/sessions/s1/outcome")).json()["outcome"] == ended["outcome"]
    # A retried start answers the session as it is now, outcome included.
    r = await api.post("/v1/sessions", {"id": "s1", "user_id": "alice", "kind": "lesson"})
    assert r.status_code == 200 and r.json()["outcome"] == ended["outcome"]
    # A start that collides with it shows the session it collided with, outcome included.
    r = await api.post("/v1/sessions", {"id": "s1", "user_id": "alice", "kind": "game"})
    assert r.status_code == 409 and r.json()["session"]["outcome"] == ended["outcome"]
    r = await api.post("/v1/sessions", {"id": "s2", "user_id": "bob", "kind": "game"})
    assert r.status_code == 409 and r.json()["session"]["outcome"] is None
    # Heartbeat answers leave it out (and a closed session answers 409 anyway).
    beat = await api.post("/v1/sessions/s2/heartbeat", scope="ingest")
    assert beat.status_code == 200 and "outcome" not in beat.json()


async def test_health_details_carry_the_outcome_of_each_session(api: Harness) -> None:
    await _start(api, "late")
    await _start(api, "gone", user="bob")
    for sid in ("late", "gone"):
        put = await api.put(f"/v1/sessions/{sid}/outcome", OUTCOME, scope="ingest")
        assert put.status_code == 200, put.text
    api.advance(400)
    await api.post("/v1/maintenance/sweep")  # both timed out: recently
    await _start(api, "quiet", user="cy")
    api.advance(400)  # overdue, not yet swept
    health = (await api.get("/v1/health", details="true")).json()
    listed = {s["id"]: s["outcome"] for s in health["overdue"] + health["recently_timed_out"]}
    assert listed.keys() == {"late", "gone", "quiet"}
    assert listed["quiet"] is None
    assert _without_time(listed["late"]) == _without_time(listed["gone"]) == OUTCOME


async def test_an_end_without_an_outcome_keeps_the_one_set_before(api: Harness) -> None:
    await _start(api, "s1")
    put = await api.put("/v1/sessions/s1/outcome", OUTCOME, scope="ingest")
    assert put.status_code == 200
    for body in (None, {"outcome": None}, {"at": None}):
        r = await api.post("/v1/sessions/s1/end", body, scope="ingest")
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == put.json()["outcome"]


async def test_an_end_with_an_outcome_on_a_closed_session_sets_it(api: Harness) -> None:
    """Ends are repeatable, and results often arrive after the end: a retried end with its
    outcome stores the outcome and leaves the end as it was."""
    await _start(api, "s1")
    api.advance(30)
    first = (await api.post("/v1/sessions/s1/end", scope="ingest")).json()
    assert first["outcome"] is None
    api.advance(30)
    r = await api.post("/v1/sessions/s1/end", {"outcome": OUTCOME}, scope="ingest")
    assert r.status_code == 200
    again = r.json()
    assert again["ended_at"] == first["ended_at"] and again["duration_s"] == 30.0
    assert again["outcome"]["metrics"] == {"score": 85.5}
    replaced = {"metrics": {"score": 90}}
    r = await api.post("/v1/sessions/s1/end", {"outcome": replaced}, scope="ingest")
    assert r.json()["outcome"]["metrics"] == {"score": 90.0}
    assert r.json()["outcome"]["counters"] == {}  # replaced whole, as by PUT


def _ends_published(api: Harness) -> float:
    """Ends heard by the after-commit subscribers (the metrics): published only once committed."""
    labels = {"kind": "lesson", "reason": "client"}
    found = api.runtime.metrics.registry.get_sample_value(
        "sessionkeeper_sessions_ended_total", labels
    )
    return found or 0.0


async def test_a_refused_outcome_refuses_the_end(api_any: Harness) -> None:
    """On SQLite and PostgreSQL: the end and its outcome are one transaction."""
    api = api_any
    await api.put("/v1/metric-definitions/score", {"min": 0, "max": 100})
    await _start(api, "s1")
    api.advance(60)
    r = await api.post("/v1/sessions/s1/end", {"outcome": {"metrics": {"score": 101}}})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["field"] == "metrics.score" and problem["code"] == "metric_refused"
    assert "score" in problem["detail"] and "[0.0, 100.0]" in problem["detail"]
    r = await api.post("/v1/sessions/s1/end", {"outcome": {"metrics": {"fluency": 1}}})
    assert r.status_code == 422 and r.json()["field"] == "metrics.fluency"
    # Nothing changed: still active, no outcome, no end counted.
    session = (await api.get("/v1/sessions/s1")).json()
    assert session["status"] == "active" and session["ended_at"] is None
    assert session["outcome"] is None
    stats = (await api.get("/v1/sessions/stats")).json()
    assert stats["ended"] == 0 and stats["active"] == 1
    assert _ends_published(api) == 0
    # A valid one is taken, with the end.
    r = await api.post("/v1/sessions/s1/end", {"outcome": {"metrics": {"score": 100}}})
    assert r.status_code == 200 and r.json()["status"] == "ended"
    assert r.json()["outcome"]["metrics"] == {"score": 100.0}
    assert (await api.get("/v1/sessions/s1")).json()["outcome"] == r.json()["outcome"]
    assert _ends_published(api) == 1


async def test_malformed_outcomes_and_unknown_fields_are_422_naming_them(api: Harness) -> None:
    await _start(api, "s1")
    for body, field in [
        ({"outcome": {"metrics": {"x": "85"}}}, "outcome.metrics.x"),
        ({"outcome": {"metrics": {"x": True}}}, "outcome.metrics.x"),
        ({"outcome": {"counters": {"words": -1}}}, "outcome.counters.words"),
        ({"outcome": {"tags": {"topics": "travel"}}}, "outcome.tags.topics"),
        ({"outcome": {"tags": {"bad name": ["a"]}}}, "outcome.tags.bad name"),
        ({"outcome": {"tags": {"t": ["x"] * 201}}}, "outcome.tags.t"),
        ({"outcome": {"score": 1}}, "outcome.score"),
        ({"outcome": [1]}, "outcome"),
        ({"outcome": {}, "outcom": {}}, "outcom"),
        ({"reason": "client", "colour": "red"}, "colour"),
    ]:
        r = await api.post("/v1/sessions/s1/end", body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"].startswith(field), (body, r.json())
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await api.post("/v1/sessions/s1/end", {"reason": "nope", "outcome": {"metrics": 1}})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {"reason"}
    assert (await api.get("/v1/sessions/s1")).json()["status"] == "active"
    # The outcome of an end of a missing session, or of another tenant's, is never stored.
    assert (await api.post("/v1/sessions/nope/end", {"outcome": OUTCOME})).status_code == 404
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'ingest')}"}
    r = await api.client.post("/v1/sessions/s1/end", json={"outcome": OUTCOME}, headers=other)
    assert r.status_code == 404
    assert (await api.get("/v1/sessions/s1")).json()["outcome"] is None
    r = await api.post("/v1/sessions/s1/end", {"outcome": OUTCOME}, scope="read")
    assert r.status_code == 403


async def test_concurrent_ends_keep_each_outcome_and_refuse_only_the_bad_one(
    api_any: Harness,
) -> None:
    """Ends gathered into one group commit: the refused one rolls back alone, every other end
    is stored with its own outcome (on SQLite and PostgreSQL)."""
    api = api_any
    await api.put("/v1/metric-definitions/score", {"min": 0, "max": 100})
    for n in range(12):
        await _start(api, f"c{n}")
    api.advance(60)

    def body(n: int) -> dict[str, Any]:
        score = 150 if n == 5 else n
        return {"outcome": {"metrics": {"score": score}, "counters": {"n": n}}}

    answers = await asyncio.gather(
        *(api.post(f"/v1/sessions/c{n}/end", body(n), scope="ingest") for n in range(12))
    )
    assert [r.status_code for r in answers] == [422 if n == 5 else 200 for n in range(12)]
    items = (await api.get("/v1/sessions", limit=50)).json()["items"]
    found = {s["id"]: s for s in items}
    for n in range(12):
        session = found[f"c{n}"]
        if n == 5:
            assert session["status"] == "active" and session["outcome"] is None
        else:
            assert session["status"] == "ended"
            assert session["outcome"]["metrics"] == {"score": float(n)}
            assert session["outcome"]["counters"] == {"n": n}
            assert answers[n].json()["outcome"] == session["outcome"]


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_the_csv_export_rows_equal_the_api_sessions(api: Harness) -> None:
    for n in range(5):
        await _start(api, f"e{n}", user=f"u{n % 2}")
        api.advance(10)
    await api.post("/v1/sessions/e1/end", {"outcome": OUTCOME})
    await api.put("/v1/sessions/e3/outcome", {"tags": {"topics": ["@home", "-x"]}})
    r = await api.get("/v1/sessions/export.csv", scope="read")
    assert r.status_code == 200
    header = r.text.splitlines()[0].split(",")
    assert header[-2:] == ["attributes", "outcome"]  # appended: no other column moved
    rows = _csv_rows(r.text)
    items = (await api.get("/v1/sessions", scope="read", limit=100)).json()["items"]
    by_id = {s["id"]: s for s in items}
    assert [row["id"] for row in rows] == ["e0", "e1", "e2", "e3", "e4"]
    for row in rows:
        expected = by_id[row["id"]]["outcome"]
        assert (json.loads(row["outcome"]) if row["outcome"] else None) == expected
    assert json.loads(rows[1]["outcome"])["metadata"]["note"] == "=not a formula"
    assert json.loads(rows[3]["outcome"])["tags"] == {"topics": ["@home", "-x"]}
    # Filters apply to the rows and their outcomes alike.
    r = await api.get("/v1/sessions/export.csv", scope="read", user_id="u1")
    assert [(row["id"], bool(row["outcome"])) for row in _csv_rows(r.text)] == [
        ("e1", True),
        ("e3", True),
    ]


async def test_a_page_of_sessions_reads_outcomes_once(api: Harness) -> None:
    """One query for the outcomes of a whole page, not one per session."""
    for n in range(30):
        await _start(api, f"p{n}")
        await api.put(f"/v1/sessions/p{n}/outcome", {"counters": {"n": n}})
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "session_outcomes" in statement:
            statements.append(statement)

    engine = api.runtime.db.read_engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        r = await api.get("/v1/sessions", limit=30)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert r.status_code == 200
    assert sorted(s["outcome"]["counters"]["n"] for s in r.json()["items"]) == list(range(30))
    assert len(statements) == 1
