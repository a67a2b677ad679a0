"""Session outcomes over HTTP: set on active and closed sessions, replaced on repeat, checked
against the tenant's metric definitions, shown on the session and in the CSV export."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tests.support import Harness

OUTCOME = {
    "metrics": {"pronunciation": 85.5, "fluency": 78},
    "counters": {"words_spoken": 120},
    "tags": {"topics": ["travel", "hotels"], "areas_to_improve": ["past tense"]},
    "metadata": {"lesson": {"unit": 3}},
}


async def _start(api: Harness, session_id: str, user: str = "alice") -> None:
    r = await api.post("/v1/sessions", {"id": session_id, "user_id": user, "kind": "lesson"})
    assert r.status_code == 201, r.text


async def test_outcome_on_an_active_session_then_replaced_after_the_end(api: Harness) -> None:
    await _start(api, "s1")
    r = await api.put("/v1/sessions/s1/outcome", OUTCOME, scope="ingest")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "active"
    assert body["outcome"]["metrics"] == {"pronunciation": 85.5, "fluency": 78.0}
    assert body["outcome"]["tags"]["topics"] == ["travel", "hotels"]
    assert body["outcome"]["metadata"] == {"lesson": {"unit": 3}}

    api.advance(60)
    assert (await api.post("/v1/sessions/s1/end", scope="ingest")).status_code == 200
    # Results arrive after the end; the repeated PUT replaces the whole outcome.
    again = {"metrics": {"pronunciation": 90}, "counters": {}, "tags": {}}
    r = await api.put("/v1/sessions/s1/outcome", again, scope="ingest")
    assert r.status_code == 200
    assert r.json()["status"] == "ended"
    r = await api.get("/v1/sessions/s1/outcome", scope="read")
    assert r.status_code == 200
    out = r.json()["outcome"]
    assert out["metrics"] == {"pronunciation": 90.0}
    assert out["counters"] == {} and out["tags"] == {} and out["metadata"] == {}
    # The same PUT twice is the same outcome (idempotent).
    first = (await api.put("/v1/sessions/s1/outcome", again)).json()["outcome"]
    second = (await api.put("/v1/sessions/s1/outcome", again)).json()["outcome"]
    assert {k: v for k, v in first.items() if k != "updated_at"} == {
        k: v for k, v in second.items() if k != "updated_at"
    }


async def test_unknown_session_other_tenant_and_scopes(api: Harness) -> None:
    assert (await api.put("/v1/sessions/nope/outcome", OUTCOME)).status_code == 404
    await _start(api, "s1")
    assert (await api.get("/v1/sessions/s1/outcome")).status_code == 404  # none yet
    api.services.tenants.create_tenant("other")
    other = api.new_key("other", "admin")
    headers = {"Authorization": f"Bearer {other}"}
    r = await api.client.put("/v1/sessions/s1/outcome", json=OUTCOME, headers=headers)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await api.put("/v1/sessions/s1/outcome", OUTCOME, scope="read")
    assert r.status_code == 403


async def test_malformed_outcomes_are_422(api: Harness) -> None:
    await _start(api, "s1")
    for bad, field in [
        ({"metrics": {"x": "85"}}, "metrics"),
        ({"metrics": {"x": True}}, "metrics"),
        # Kept as floats: a whole number beyond 2^53 would be stored rounded.
        ({"metrics": {"x": 2**63 - 1}}, "metrics"),
        ({"metrics": {"x": 2**53 + 1}}, "metrics"),
        ({"counters": {"words": -1}}, "counters"),
        ({"counters": {"words": 1.5}}, "counters"),
        ({"tags": {"topics": "travel"}}, "tags"),
        ({"tags": {"bad name": ["a"]}}, "tags"),
        ({"score": 1}, "score"),
    ]:
        r = await api.put("/v1/sessions/s1/outcome", bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["field"].startswith(field), (bad, r.json())


async def test_metric_definitions_refuse_unknown_and_out_of_range(api: Harness) -> None:
    await _start(api, "s1")
    # With no definitions any metric is accepted.
    assert (
        await api.put("/v1/sessions/s1/outcome", {"metrics": {"anything": 1e6}})
    ).status_code == 200
    await _start(api, "s2")
    exact = await api.put("/v1/sessions/s2/outcome", {"metrics": {"big": 2**53}})
    assert exact.status_code == 200, exact.text
    assert exact.json()["outcome"]["metrics"]["big"] == 2**53
    r = await api.put(
        "/v1/metric-definitions/pronunciation", {"min": 0, "max": 100, "unit": "points"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": "pronunciation",
        "min": 0.0,
        "max": 100.0,
        "unit": "points",
        "higher_is_better": True,
    }
    assert (
        await api.put("/v1/metric-definitions/fluency", {"min": 0, "max": 10}, scope="ingest")
    ).status_code == 403
    assert (await api.put("/v1/metric-definitions/x", {"min": 5, "max": 1})).status_code == 422
    inexact = await api.put("/v1/metric-definitions/x", {"min": 0, "max": 2**53 + 1})
    assert inexact.status_code == 422 and inexact.json()["field"] == "max", inexact.text

    r = await api.put("/v1/sessions/s1/outcome", {"metrics": {"pronunciation": 100.5}})
    assert r.status_code == 422
    assert r.json()["field"] == "metrics.pronunciation"
    assert "pronunciation" in r.json()["detail"] and "[0.0, 100.0]" in r.json()["detail"]
    r = await api.put("/v1/sessions/s1/outcome", {"metrics": {"fluency": 5}})
    assert r.status_code == 422
    assert r.json()["field"] == "metrics.fluency"
    assert "not defined" in r.json()["detail"]
    # The refused PUT changed nothing.
    assert (await api.get("/v1/sessions/s1/outcome")).json()["outcome"]["metrics"] == {
        "anything": 1e6
    }
    ok = await api.put("/v1/sessions/s1/outcome", {"metrics": {"pronunciation": 100}})
    assert ok.status_code == 200

    listed = (await api.get("/v1/metric-definitions", scope="read")).json()["items"]
    assert [d["name"] for d in listed] == ["pronunciation"]
    assert (
        await api.client.delete("/v1/metric-definitions/pronunciation", headers=api.auth())
    ).status_code == 204
    assert (
        await api.client.delete("/v1/metric-definitions/pronunciation", headers=api.auth())
    ).status_code == 404
    assert (
        await api.put("/v1/sessions/s1/outcome", {"metrics": {"fluency": 5}})
    ).status_code == 200


async def test_outcomes_in_the_csv_export(api: Harness) -> None:
    await api.put("/v1/metric-definitions/pronunciation", {"min": 0, "max": 100})
    await api.put("/v1/metric-definitions/fluency", {"min": 0, "max": 100})
    await _start(api, "s1")
    api.advance(1)
    await _start(api, "s2", user="bob")
    await api.put("/v1/sessions/s1/outcome", OUTCOME)
    r = await api.get("/v1/outcomes/export.csv", scope="read")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["id"] for row in rows] == ["s1", "s2"]
    assert rows[0]["metric.pronunciation"] == "85.5"
    assert rows[0]["metric.fluency"] == "78.0"
    assert json.loads(rows[0]["counters"]) == {"words_spoken": 120}
    assert json.loads(rows[0]["tags"])["topics"] == ["travel", "hotels"]
    assert json.loads(rows[0]["outcome_metadata"]) == {"lesson": {"unit": 3}}
    assert rows[1]["metric.pronunciation"] == "" and rows[1]["metrics"] == ""
    # The listing's filters apply.
    r = await api.get("/v1/outcomes/export.csv", scope="read", user_id="bob")
    assert [row["id"] for row in csv.DictReader(io.StringIO(r.text))] == ["s2"]
    assert (await api.get("/v1/outcomes/export.csv", bogus="1")).status_code == 422


async def test_the_outcome_export_has_the_session_exports_columns(api: Harness) -> None:
    """Subject columns and attributes included, the session export's outcome cell left out
    (its parts follow as their own columns)."""
    await api.put("/v1/metric-definitions/pronunciation", {"min": 0, "max": 100})
    start = {"user_id": "s9", "kind": "lesson", "attributes": {"room": "a"}}
    subject = {"teacher_id": "t1", "student_id": "s9"}
    assert (await api.post("/v1/sessions", {"id": "l1", **start, "subject": subject})).is_success
    await api.put("/v1/sessions/l1/outcome", OUTCOME)

    def table(response: Any) -> tuple[list[str], list[dict[str, str]]]:
        assert response.status_code == 200, response.text
        header = next(csv.reader(io.StringIO(response.text)))
        return header, list(csv.DictReader(io.StringIO(response.text)))

    sessions_header, sessions = table(await api.get("/v1/sessions/export.csv", scope="read"))
    header, rows = table(await api.get("/v1/outcomes/export.csv", scope="read"))
    assert sessions_header[-1] == "outcome"
    assert header == [
        *sessions_header[:-1],
        "metric.pronunciation",
        "metrics",
        "counters",
        "tags",
        "outcome_metadata",
    ]
    assert {"subject.student_id", "subject.teacher_id", "attributes"} <= set(header)
    assert {k: v for k, v in rows[0].items() if k in sessions_header} == {
        k: v for k, v in sessions[0].items() if k != "outcome"
    }
    # The columns chosen as the session export takes them.
    chosen, _ = table(
        await api.get("/v1/outcomes/export.csv", scope="read", subject_fields="teacher_id")
    )
    assert [name for name in chosen if name.startswith("subject.")] == ["subject.teacher_id"]
    refused = await api.get("/v1/outcomes/export.csv", subject_fields="not a field")
    assert refused.status_code == 422 and refused.json()["field"] == "subject_fields"
