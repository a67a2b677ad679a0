"""Subjects, the listing's filters, stats and the CSV export over HTTP: status codes, fields
named in 422s, route order and the reserved ids."""

from __future__ import annotations

import csv
import io

import pytest

from tests.support import Harness

LESSON = {"user_id": "s9", "kind": "lesson", "subject": {"teacher_id": "t1", "student_id": "s9"}}


async def test_subject_is_stored_returned_and_part_of_the_start(api: Harness) -> None:
    created = await api.post("/v1/sessions", {"id": "l1", **LESSON}, scope="ingest")
    assert created.status_code == 201
    assert created.json()["subject"] == {"teacher_id": "t1", "student_id": "s9"}
    assert (await api.get("/v1/sessions/l1")).json()["subject"] == LESSON["subject"]
    again = await api.post("/v1/sessions", {"id": "l1", **LESSON}, scope="ingest")
    assert again.status_code == 200  # the same start retried
    other = {**LESSON, "subject": {"teacher_id": "t2", "student_id": "s9"}}
    assert (await api.post("/v1/sessions", {"id": "l1", **other})).status_code == 409
    plain = await api.post("/v1/sessions", {"id": "p1", "user_id": "u", "kind": "game"})
    assert plain.json()["subject"] == {}
    # An empty subject is no subject: the same start as one without it.
    same = {"id": "p1", "user_id": "u", "kind": "game", "subject": {}}
    assert (await api.post("/v1/sessions", same)).status_code == 200


@pytest.mark.parametrize(
    ("subject", "field"),
    [
        ({"teacher-id": "t1"}, "subject"),
        ({"": "x"}, "subject"),
        ({"1st": "x"}, "subject"),
        ({"teacher_id": 7}, "subject.teacher_id"),
        ({"teacher_id": {"nested": "x"}}, "subject.teacher_id"),
        ({"teacher_id": ""}, "subject.teacher_id"),
        ({"teacher_id": "t" * 257}, "subject.teacher_id"),
        ({"teacher_id": "a\u0000b"}, "subject.teacher_id"),
        ({f"f{i}": "x" for i in range(17)}, "subject"),
        (["t1"], "subject"),
    ],
)
async def test_bad_subjects_are_refused_naming_the_field(
    api: Harness, subject: object, field: str
) -> None:
    response = await api.post("/v1/sessions", {"user_id": "u", "kind": "k", "subject": subject})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize("reserved", ["stats", "export.csv"])
async def test_paths_under_sessions_are_not_session_ids(api: Harness, reserved: str) -> None:
    response = await api.post("/v1/sessions", {"id": reserved, "user_id": "u", "kind": "k"})
    assert response.status_code == 422 and response.json()["field"] == "id"
    await api.post("/v1/sessions", {"id": "stats2", "user_id": "u", "kind": "k"})
    # Route order: these are the reports, not a session read.
    stats = await api.get("/v1/sessions/stats")
    assert stats.status_code == 200 and stats.json()["total"] == 1
    export = await api.get("/v1/sessions/export.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert (await api.get("/v1/sessions/stats2")).json()["id"] == "stats2"


async def test_reports_need_a_read_key(api: Harness) -> None:
    for path in ("/v1/sessions/stats", "/v1/sessions/export.csv"):
        assert (await api.get(path, scope="read")).status_code == 200
        assert (await api.get(path, scope="ingest")).status_code == 403
        assert (await api.client.get(path)).status_code == 401


@pytest.mark.parametrize("path", ["/v1/sessions", "/v1/sessions/stats", "/v1/sessions/export.csv"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"ended_after": "2026-01-05T10:00:00"}, "ended_after"),
        ({"active_during": "2026-01-05T10:00:00Z"}, "active_during"),
        ({"min_duration_s": "-3"}, "min_duration_s"),
        ({"subject.bad-name": "x"}, "subject.bad-name"),
        ({"colour": "red"}, "colour"),
        ({"kind": ["a", "b"]}, "kind"),
    ],
)
async def test_the_same_filters_everywhere(
    api: Harness, path: str, params: dict, field: str
) -> None:
    response = await api.client.get(path, params=params, headers=api.auth())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


async def test_list_filters_by_subject_and_source(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "a", **LESSON})
    await api.post("/v1/sessions", {"id": "b", **LESSON, "subject": {"teacher_id": "t2"}})
    await api.put("/v1/presence/bot", [{"user_id": "x", "kind": "voice"}])
    only_t1 = await api.get("/v1/sessions", **{"subject.teacher_id": "t1"})
    assert [s["id"] for s in only_t1.json()["items"]] == ["a"]
    both = await api.get("/v1/sessions", **{"subject.teacher_id": "t1", "subject.student_id": "s9"})
    assert [s["id"] for s in both.json()["items"]] == ["a"]
    from_bot = await api.get("/v1/sessions", source="bot")
    assert [s["user_id"] for s in from_bot.json()["items"]] == ["x"]


@pytest.mark.parametrize("group_by", ["user_id", "subject.", "subject.a-b", "week"])
async def test_bad_group_by(api: Harness, group_by: str) -> None:
    response = await api.get("/v1/sessions/stats", group_by=group_by)
    assert response.status_code == 422 and response.json()["field"] == "group_by"


async def test_stats_per_day(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "d1", **LESSON})
    api.advance(86_400)
    await api.post("/v1/sessions", {"id": "d2", **LESSON})
    body = (await api.get("/v1/sessions/stats", group_by="day")).json()
    assert [(g["key"], g["total"]) for g in body["groups"]] == [
        ("2026-01-05", 1),
        ("2026-01-06", 1),
    ]
    assert body["groups"][0]["timed_out"] == 1  # the first went silent a day ago
    empty = (await api.get("/v1/sessions/stats", kind="nothing")).json()
    assert empty["total"] == 0 and empty["p50_duration_s"] is None
    assert empty["average_duration_s"] is None


async def test_export_is_an_attachment_with_every_subject_field(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "e1", **LESSON, "label": "Algebra, part 1"})
    response = await api.get("/v1/sessions/export.csv")
    assert response.headers["content-disposition"] == 'attachment; filename="sessions.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert rows == [
        {
            "id": "e1",
            "user_id": "s9",
            "kind": "lesson",
            "label": "Algebra, part 1",
            "source": "",
            "status": "active",
            "end_reason": "",
            "estimated": "false",
            "started_at": "2026-01-05T09:00:00.000Z",
            "last_seen_at": "2026-01-05T09:00:00.000Z",
            "ended_at": "",
            "duration_s": "",
            "duration_low_s": "",
            "duration_high_s": "",
            "subject.student_id": "s9",
            "subject.teacher_id": "t1",
            "attributes": "",
            # Added by the outcomes feature, last: empty while the session has none.
            "outcome": "",
        }
    ]


async def test_export_with_too_many_subject_fields_asks_to_choose(api: Harness) -> None:
    for i in range(5):
        subject = {f"f{i}_{j}": "x" for j in range(13)}
        await api.post("/v1/sessions", {"user_id": "u", "kind": "k", "subject": subject})
    response = await api.get("/v1/sessions/export.csv")
    assert response.status_code == 422 and response.json()["field"] == "subject_fields"
    chosen = await api.get("/v1/sessions/export.csv", subject_fields="f0_0,f4_12")
    assert chosen.status_code == 200
    assert chosen.text.splitlines()[0].endswith("subject.f0_0,subject.f4_12,attributes,outcome")
    bad = await api.get("/v1/sessions/export.csv", subject_fields="a-b")
    assert bad.status_code == 422 and bad.json()["field"] == "subject_fields"


async def test_filters_are_in_the_openapi_document(api: Harness) -> None:
    document = (await api.client.get("/openapi.json")).json()
    for path in ("/v1/sessions", "/v1/sessions/stats", "/v1/sessions/export.csv"):
        names = {p["name"] for p in document["paths"][path]["get"]["parameters"]}
        assert {"status", "source", "ended_after", "active_during", "min_duration_s"} <= names
        assert "subject.<field>" in document["paths"][path]["get"]["description"]
