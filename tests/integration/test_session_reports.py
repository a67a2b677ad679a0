"""Stats, filters and the CSV export on SQLite and PostgreSQL: the SQL agrees with the pure
definitions (nearest-rank percentiles included), overdue sessions count as timed out at
their estimated end, pages of the export cover every session once, and one tenant's
sessions never show in another's numbers."""

from __future__ import annotations

import csv
import io
import random
import uuid
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import NewSession
from sessionkeeper.domain.stats import nearest_rank
from sessionkeeper.services import session_reports
from sessionkeeper.storage import heartbeats, session_inserts
from sessionkeeper.storage import sessions as store
from tests.support import T0, Harness, iso

TIMEOUT_MS = 300_000
GRACE_MS = 30_000


def new(session_id: str, started_at: int, **changes: object) -> NewSession:
    session = NewSession(
        id=session_id,
        user_id="u",
        kind="lesson",
        label=None,
        attributes={},
        started_at=started_at,
        timeout_ms=TIMEOUT_MS,
        grace_ms=GRACE_MS,
        start_digest="d",
    )
    return replace(session, **changes)  # type: ignore[arg-type]


def insert(api: Harness, principal: Principal, sessions: list[NewSession]) -> None:
    api.runtime.db.writer.run_sync(lambda tx: session_inserts.insert_many(tx, principal, sessions))


def end(api: Harness, principal: Principal, session_id: str, at: int) -> None:
    api.runtime.db.writer.run_sync(
        lambda tx: store.end(
            tx, principal, session_id, at=at, reason=store.EndReason.CLIENT, now=at
        )
    )


async def stats(api: Harness, **params: object) -> dict:
    response = await api.get("/v1/sessions/stats", **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_stats_agree_with_the_definitions(api_any: Harness) -> None:
    api = api_any
    tenant = api.services.tenants.operator("default")
    rng = random.Random(20260105)
    durations: dict[str, list[int]] = {"lesson": [], "game": []}
    starts = []
    for i in range(121):
        kind = "lesson" if i % 3 else "game"
        starts.append(
            new(f"s{i:03d}", T0 + i * 1000, kind=kind, subject={"teacher_id": f"t{i % 4}"})
        )
    insert(api, tenant, starts)
    # 91 closed: the 95th percentile's rank, 86.45, must round up (nearest rank), not off.
    ended = rng.sample(range(121), 91)
    for i in ended:
        # Within the session's life (expires_at = start + 300 s): exact ends.
        duration = rng.randrange(0, 290_000)
        end(api, tenant, f"s{i:03d}", T0 + i * 1000 + duration)
        durations[starts[i].kind].append(duration)
    api.clock.set(T0 + 200_000)  # the 30 still active are not overdue yet

    overall = await stats(api)
    everything = sorted(durations["lesson"] + durations["game"])
    assert (overall["total"], overall["active"], overall["ended"]) == (121, 30, 91)
    assert overall["timed_out"] == 0 and overall["expired"] == 0
    assert overall["total_duration_s"] == sum(everything) / 1000
    assert overall["average_duration_s"] == sum(everything) / len(everything) / 1000
    assert overall["p50_duration_s"] == nearest_rank(everything, 50) / 1000
    assert overall["p95_duration_s"] == nearest_rank(everything, 95) / 1000

    grouped = await stats(api, group_by="kind")
    assert grouped["group_by"] == "kind" and grouped["total"] == 121
    assert [g["key"] for g in grouped["groups"]] == ["game", "lesson"]
    for group in grouped["groups"]:
        values = sorted(durations[group["key"]])
        assert group["ended"] == len(values)
        assert group["p50_duration_s"] == nearest_rank(values, 50) / 1000
        assert group["p95_duration_s"] == nearest_rank(values, 95) / 1000

    by_teacher = await stats(api, group_by="subject.teacher_id", kind="lesson")
    assert [g["key"] for g in by_teacher["groups"]] == ["t0", "t1", "t2", "t3"]
    assert sum(g["total"] for g in by_teacher["groups"]) == by_teacher["total"] == 80


async def test_overdue_sessions_count_as_timed_out_at_their_estimated_end(
    api_any: Harness,
) -> None:
    api = api_any
    tenant = api.services.tenants.operator("default")
    insert(api, tenant, [new("live", T0 + 400_000), new("silent", T0)])
    api.clock.set(T0 + 500_000)  # "silent" expired at T0 + 300 s; nobody swept it
    overall = await stats(api)
    assert (overall["active"], overall["timed_out"]) == (1, 1)
    assert overall["total_duration_s"] == GRACE_MS / 1000  # estimated end: last seen + grace

    async def listed(**params: object) -> list[str]:
        response = await api.get("/v1/sessions", **params)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["items"]]

    assert await listed(status="active") == ["live"]
    assert await listed(status="timed_out") == ["silent"]
    assert await listed(ended_before=iso(T0 + 31_000)) == ["silent"]
    assert await listed(ended_after=iso(T0 + 31_000)) == []
    assert await listed(min_duration_s="30") == ["silent"]
    assert await listed(min_duration_s="30.001") == []
    csv_text = (await api.get("/v1/sessions/export.csv", status="timed_out")).text
    [row] = list(csv.DictReader(io.StringIO(csv_text, newline="")))
    assert (row["id"], row["status"], row["end_reason"], row["estimated"]) == (
        "silent",
        "timed_out",
        "timeout",
        "true",
    )
    assert row["ended_at"] == "2026-01-05T09:00:30.000Z" and row["duration_s"] == "30.0"
    # The sweep, when it comes, closes it exactly as the reads said.
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] == 1
    assert await stats(api) == overall


async def test_active_during_and_ended_windows(api_any: Harness) -> None:
    api = api_any
    tenant = api.services.tenants.operator("default")
    hour = 3_600_000
    insert(
        api,
        tenant,
        [
            new("before", T0, timeout_ms=10 * hour),
            new("across", T0 + hour // 2, timeout_ms=10 * hour),
            new("inside", T0 + hour + 60_000, timeout_ms=10 * hour),
            new("after", T0 + 3 * hour, timeout_ms=10 * hour),
            new("ongoing", T0 + hour // 2, timeout_ms=10 * hour),
        ],
    )
    end(api, tenant, "before", T0 + hour // 2)
    end(api, tenant, "across", T0 + hour + hour // 2)
    end(api, tenant, "inside", T0 + hour + 120_000)
    end(api, tenant, "after", T0 + 4 * hour)
    api.clock.set(T0 + 5 * hour)
    window = f"{iso(T0 + hour)}/{iso(T0 + 2 * hour)}"
    response = await api.get("/v1/sessions", active_during=window)
    assert sorted(s["id"] for s in response.json()["items"]) == ["across", "inside", "ongoing"]
    counted = await stats(api, active_during=window)
    assert (counted["total"], counted["active"], counted["ended"]) == (3, 1, 2)
    ended = await api.get(
        "/v1/sessions", ended_after=iso(T0 + hour), ended_before=iso(T0 + 2 * hour)
    )
    assert sorted(s["id"] for s in ended.json()["items"]) == ["across", "inside"]


async def test_export_pages_cover_every_session_once_in_order(api_any: Harness) -> None:
    api = api_any
    tenant = api.services.tenants.operator("default")
    page = session_reports.EXPORT_PAGE
    # Many share a start time (a presence snapshot starts them together): ties across pages.
    sessions = [
        new(f"s{i:05d}", T0 + (i // 700) * 1000, subject={"student_id": f"st{i}"})
        for i in range(2 * page + 345)
    ]
    rng = random.Random(7)
    rng.shuffle(sessions)
    insert(api, tenant, sessions)
    api.services.tenants.create_tenant("other")
    insert(api, api.services.tenants.operator("other"), [new("foreign", T0)])

    response = await api.get("/v1/sessions/export.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    expected = sorted(sessions, key=lambda s: (s.started_at, s.id))
    assert [r["id"] for r in rows] == [s.id for s in expected]
    assert rows[17]["subject.student_id"] == expected[17].subject["student_id"]  # type: ignore[index]

    chosen = await api.get("/v1/sessions/export.csv", subject_fields="teacher_id")
    header = next(csv.reader(io.StringIO(chosen.text, newline="")))
    assert "subject.teacher_id" in header and "subject.student_id" not in header


async def test_tenants_never_see_each_others_numbers(api_any: Harness) -> None:
    api = api_any
    insert(
        api,
        api.services.tenants.operator("default"),
        [new("mine", T0, subject={"teacher_id": "t1"})],
    )
    api.services.tenants.create_tenant("other")
    other = api.services.tenants.operator("other")
    insert(api, other, [new(f"theirs{i}", T0, subject={"secret_field": "x"}) for i in range(5)])
    overall = await stats(api, group_by="subject.secret_field")
    assert overall["total"] == 1 and [g["key"] for g in overall["groups"]] == [None]
    text = (await api.get("/v1/sessions/export.csv")).text
    assert "theirs" not in text and "secret_field" not in text
    assert [s["id"] for s in (await api.get("/v1/sessions")).json()["items"]] == ["mine"]


ENDINGS = st.lists(
    st.tuples(
        st.sampled_from(["client", "presence_lost", "swept", "overdue", "open"]),
        st.integers(min_value=1, max_value=200_000),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(endings=ENDINGS)
async def test_the_bounds_of_a_total_are_the_sums_of_the_sessions_bounds(
    api_any: Harness, endings: list[tuple[str, int]]
) -> None:
    """Sessions ending every way there is (exactly, by lost presence, by timeout swept or
    still overdue, still open): the totals' estimated part and bounds are the sums of what
    each session shows as its own."""
    api = api_any
    name = f"b{uuid.uuid4().hex[:10]}"
    api.services.tenants.create_tenant(name)
    tenant = api.services.tenants.operator(name)
    headers = {"Authorization": f"Bearer {api.new_key(name, 'admin')}"}
    start = api.clock.now_ms()
    news = [new(f"s{i}", start, interval_ms=60_000) for i in range(len(endings))]
    insert(api, tenant, news)
    write = api.runtime.db.writer.run_sync
    for session, (how, offset) in zip(news, endings, strict=True):
        at = start + min(offset, TIMEOUT_MS - 1)  # within the session's life
        if how == "client":
            end(api, tenant, session.id, at)
        elif how != "open":
            write(
                lambda tx, sid=session.id, at=at: heartbeats.heartbeat(
                    tx, tenant, sid, at=at, now=at
                )
            )
        if how == "presence_lost":
            write(
                lambda tx, sid=session.id, at=at: store.end_many(
                    tx, tenant, [sid], at=at + 1, reason=store.EndReason.PRESENCE_LOST
                )
            )
    later = start + 2 * TIMEOUT_MS + 1  # every silent one is overdue by now
    for session, (how, _) in zip(news, endings, strict=True):
        if how == "swept":
            write(lambda tx, sid=session.id: store.close_overdue(tx, tenant, [sid], later))
    api.clock.set(later if any(how != "open" for how, _ in endings) else start)
    listed = (await api.client.get("/v1/sessions", params={"limit": 100}, headers=headers)).json()
    items = listed["items"]
    totals = (await api.client.get("/v1/sessions/stats", headers=headers)).json()
    bounds = [s["duration_bounds_s"] for s in items if s["duration_bounds_s"] is not None]
    low, high = sum(b[0] for b in bounds), sum(b[1] for b in bounds)
    estimated = sum(s["duration_s"] for s in items if s["estimated"])
    assert totals["bounds_s"] == [pytest.approx(low), pytest.approx(high)]
    assert totals["estimated_s"] == pytest.approx(estimated)
    assert low - 1e-6 <= totals["total_duration_s"] <= high + 1e-6
    api.clock.set(start)
