"""The client's stats, CSV export and webhook calls against a real server."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sessionkeeper.client import (
    AsyncClient,
    Client,
    Conflict,
    InvalidInput,
    NotFound,
    SessionStats,
    Webhook,
    WebhookCreated,
)
from sessionkeeper.client.export import CsvRecords

PUBLIC = "https://8.8.8.8/hooks/sessionkeeper"


def lessons(client: Client) -> None:
    for i, teacher in enumerate(["t1", "t1", "t2"]):
        client.start(
            f"student-{i}",
            "lesson",
            id=f"lesson-{i}",
            label='Maths, "extra"\nweek 2' if i == 0 else None,
            subject={"teacher_id": teacher, "student_id": f"s{i}"},
        )
    client.end("lesson-0")


def test_subject_round_trips(client: Client) -> None:
    started = client.start("u", "lesson", subject={"teacher_id": "t9"})
    assert started.subject == {"teacher_id": "t9"}
    assert client.get(started.id).subject == {"teacher_id": "t9"}
    assert client.start("u", "game").subject == {}


def test_stats_and_filters(client: Client) -> None:
    lessons(client)
    overall = client.stats()
    assert isinstance(overall, SessionStats)
    assert (overall.total, overall.active, overall.ended) == (3, 2, 1)
    per_teacher = client.stats("subject.teacher_id")
    assert [(g.key, g.total) for g in per_teacher.groups] == [("t1", 2), ("t2", 1)]
    now = datetime.now(UTC)
    window = (now - timedelta(hours=1), now + timedelta(minutes=1))
    assert client.stats(subject={"teacher_id": "t1"}, active_during=window).total == 2
    assert client.stats(status="ended", min_duration_s=0).total == 1
    assert [s.id for s in client.iter_sessions(subject={"teacher_id": "t2"})] == ["lesson-2"]
    with pytest.raises(InvalidInput) as refused:
        client.stats("teacher")
    assert refused.value.field == "group_by"


def test_export_to_a_file_and_as_rows(client: Client, tmp_path: Path) -> None:
    lessons(client)
    target = tmp_path / "sessions.csv"
    written = client.export_csv(target, subject={"teacher_id": "t1"})
    assert written == target.stat().st_size > 0
    rows = list(csv.DictReader(io.StringIO(target.read_text(), newline="")))
    assert [r["id"] for r in rows] == ["lesson-0", "lesson-1"]
    assert rows[0]["label"] == 'Maths, "extra"\nweek 2'

    buffer = io.BytesIO()
    client.export_csv(buffer, subject_fields=["teacher_id"])
    header = buffer.getvalue().decode().splitlines()[0]
    assert header.endswith("subject.teacher_id,attributes,outcome")

    streamed = list(client.iter_export())
    assert [r["id"] for r in streamed] == ["lesson-0", "lesson-1", "lesson-2"]
    assert streamed[0]["label"] == 'Maths, "extra"\nweek 2'
    assert streamed[2]["subject.student_id"] == "s2"
    with pytest.raises(InvalidInput) as refused:
        list(client.iter_export(min_duration_s=-1))
    assert refused.value.field == "min_duration_s"


async def test_async_stats_and_export(aclient: AsyncClient, tmp_path: Path) -> None:
    await aclient.start("u", "lesson", id="a-1", subject={"teacher_id": "t1"})
    assert (await aclient.stats(kind="lesson")).total == 1
    rows = [row async for row in aclient.iter_export(kind="lesson")]
    assert [r["id"] for r in rows] == ["a-1"] and rows[0]["subject.teacher_id"] == "t1"
    written = await aclient.export_csv(tmp_path / "a.csv")
    assert written == (tmp_path / "a.csv").stat().st_size


def test_csv_records_from_any_chunks() -> None:
    text = 'id,label\r\na,"one, ""two""\r\nthree"\r\nb,\r\n'
    for size in (1, 2, 5, len(text)):
        records = CsvRecords()
        rows = [row for i in range(0, len(text), size) for row in records.feed(text[i : i + size])]
        assert rows == [{"id": "a", "label": 'one, "two"\r\nthree'}, {"id": "b", "label": ""}]


def test_webhooks(client: Client) -> None:
    created = client.create_webhook(PUBLIC, ["session.ended"], description="relay")
    assert isinstance(created, WebhookCreated) and created.secret.startswith("whsec_")
    assert client.webhooks() == (client.get_webhook(created.id),)
    shown = client.get_webhook(created.id)
    assert isinstance(shown, Webhook) and shown.events == ("session.ended",)
    rotated = client.rotate_webhook_secret(created.id)
    assert rotated.secret != created.secret and rotated.previous_secret_expires_at is not None

    client.start("u", "lesson", id="w-1")
    client.end("w-1")
    page = client.webhook_deliveries(created.id)
    [delivery] = page.items
    assert delivery.event_type == "session.ended" and page.next_cursor is None
    assert delivery.payload["data"]["session_id"] == "w-1"
    assert client.retry_webhook_delivery(created.id, delivery.id).status == "pending"

    client.delete_webhook(created.id)
    with pytest.raises(NotFound):
        client.get_webhook(created.id)
    with pytest.raises(InvalidInput) as refused:
        client.create_webhook("http://127.0.0.1:9/hook", ["session.ended"])
    assert refused.value.field == "url" and refused.value.code == "webhook_target_refused"


async def test_async_webhooks(aclient: AsyncClient) -> None:
    created = await aclient.create_webhook(PUBLIC, ["session.started"])
    assert [w.id for w in await aclient.webhooks()] == [created.id]
    assert (await aclient.get_webhook(created.id)).status == "enabled"
    await aclient.start("u", "lesson", id="aw-1")
    [delivery] = (await aclient.webhook_deliveries(created.id, limit=10)).items
    assert delivery.payload["type"] == "session.started"
    assert (await aclient.retry_webhook_delivery(created.id, delivery.id)).id == delivery.id
    assert (await aclient.rotate_webhook_secret(created.id)).id == created.id
    await aclient.delete_webhook(created.id)
    with pytest.raises(NotFound):
        await aclient.delete_webhook(created.id)
    for _ in range(20):
        await aclient.create_webhook(PUBLIC, ["session.ended"])
    with pytest.raises(Conflict) as limit:
        await aclient.create_webhook(PUBLIC, ["session.ended"])
    assert limit.value.code == "webhook_limit"
