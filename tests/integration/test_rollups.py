"""Rollups on SQLite and PostgreSQL: kept incrementally, they equal a from-scratch
recomputation, written here independently of the rollup code, over random histories."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionkeeper.assembly import build_services
from sessionkeeper.clock import ManualClock
from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.events import SessionAmended, SessionDeleted
from sessionkeeper.domain.lifecycle import EndReason, Lifecycle, Status
from sessionkeeper.domain.principal import Principal, operator
from sessionkeeper.errors import SessionkeeperError
from sessionkeeper.events.rules import EventType, NewEvent
from sessionkeeper.events.service import EventService
from sessionkeeper.events.tables import events as events_table
from sessionkeeper.quality.rules import GroupBy
from sessionkeeper.quality.service import QualityService
from sessionkeeper.rollups import ends_store
from sessionkeeper.rollups import store as rollup_store
from sessionkeeper.rollups.bundle import Rollups
from sessionkeeper.rollups.rules import DayRow
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.sessions import StartRequest
from sessionkeeper.settings.service import SettingsService
from sessionkeeper.storage.tables import sessions as sessions_table
from sessionkeeper.storage.transaction import Transaction
from tests.support import settings_for

MIN = 60_000
# Around the DST changes of 2026: Europe on 29 March and 25 October, the US on 8 March.
STARTS = {
    "Europe/Prague": [
        datetime(2026, 3, 28, 18, tzinfo=UTC),
        datetime(2026, 10, 24, 18, tzinfo=UTC),
    ],
    "America/New_York": [datetime(2026, 3, 7, 20, tzinfo=UTC)],
    "UTC": [datetime(2026, 1, 5, 21, tzinfo=UTC)],
}
_names = itertools.count()


@pytest.fixture
def services(db_url: str) -> Iterator[Services]:
    runtime = Runtime.open(settings_for(db_url), clock=ManualClock(0))
    runtime.db.migrate()
    built = build_services(runtime)
    yield built
    runtime.close()


def new_tenant(services: Services) -> Principal:
    name = f"p{next(_names)}"
    tenant = services.tenants.create_tenant(name)
    return operator(tenant.id, name)


# A step of a history: what happens, to which of a few sessions, how far back in minutes.
start = st.tuples(st.just("start"), st.integers(0, 5), st.integers(0, 3), st.integers(0, 900))
event = st.tuples(
    st.just("event"),
    st.integers(-1, 5),
    st.sampled_from(["page_view", "action", "custom"]),
    st.sampled_from(["/", "/a", "/b", "buy"]),
    st.integers(0, 1200),
)
steps = st.lists(
    st.one_of(
        start,
        st.tuples(st.just("beat"), st.integers(0, 5), st.integers(0, 120)),
        st.tuples(st.just("end"), st.integers(0, 5), st.integers(0, 300)),
        event,
        event,
        event,
        st.tuples(st.just("advance"), st.integers(1, 600)),
        st.tuples(st.just("sweep")),
        st.tuples(st.just("refresh")),
        st.tuples(st.just("advance"), st.integers(1, 600)),
        st.tuples(st.just("delete"), st.integers(0, 5)),
        st.tuples(st.just("amend"), st.integers(0, 5), st.integers(-300, 300)),
    ),
    min_size=4,
    max_size=30,
)
histories = st.builds(
    lambda first, then: first + then, st.lists(start, min_size=2, max_size=6), steps
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=histories,
    place=st.sampled_from([(z, i) for z, starts in STARTS.items() for i in range(len(starts))]),
    moved_to=st.sampled_from([None, "UTC", "Asia/Tokyo", "America/New_York"]),
)
def test_incremental_rollups_equal_a_recomputation(
    services: Services, history: list[tuple[Any, ...]], place: tuple[str, int], moved_to: str | None
) -> None:
    zone_name, which = place
    clock = services.runtime.clock
    assert isinstance(clock, ManualClock)
    clock.set(int(STARTS[zone_name][which].timestamp() * 1000))
    principal = new_tenant(services)
    asyncio.run(play(services, principal, zone_name, history, moved_to))
    expected = recompute(services, principal, moved_to or zone_name, clock.now_ms())
    assert stored(services, principal) == expected, history


def stored(services: Services, principal: Principal) -> dict[tuple[Any, ...], Any]:
    first, last = date(2000, 1, 1), date(2100, 1, 1)

    def read(conn: Any) -> dict[tuple[Any, ...], Any]:
        rows = rollup_store.rows_between(conn, principal, first, last)
        found: dict[tuple[Any, ...], Any] = {(r.day, r.kind): comparable(r) for r in rows}
        for f in ends_store.stored_facts(conn, principal.tenant_id, first, last):
            found["ends", f.day, f.kind, f.source, f.reason.value] = (
                f.sessions,
                f.time_ms,
                f.estimated_ms,
                f.bound_width_ms,
                f.amended,
                f.continuations,
                f.duration_buckets,
            )
        for day, users in ends_store.day_users(conn, principal, first, last).items():
            found["users", day] = users
        return found

    return services.runtime.db.reader.run_sync(read)


async def play(
    services: Services,
    principal: Principal,
    zone_name: str,
    history: list[tuple[Any, ...]],
    moved_to: str | None,
) -> None:
    rt = services.runtime
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    await services.of(SettingsService).put(principal, timezone=zone_name)
    await services.policies.put(
        principal, "*", heartbeat_interval_s=60, timeout_s=6 * 3600, grace_s=30
    )
    rollups = services.of(Rollups).refresher
    events = services.of(EventService)
    current_zone = zone_name
    ids = itertools.count()
    for i, step in enumerate(history):
        now = clock.now_ms()
        try:
            match step:
                case ("start", n, user, back):
                    request = StartRequest(
                        id=f"s{n}",
                        user_id=f"u{user}",
                        kind=f"k{n % 3}",
                        started_at=now - back * MIN,
                        source="link" if n % 2 else None,
                        continues="s0" if n == 4 else None,
                    )
                    await services.sessions.start(principal, request)
                case ("beat", n, back):
                    await services.sessions.heartbeat(principal, f"s{n}", at=now - back * MIN)
                case ("end", n, back):
                    await services.sessions.end(principal, f"s{n}", at=now - back * MIN)
                case ("event", n, kind, name, back):
                    event = NewEvent(
                        event_id=f"e{next(ids)}",
                        user_id=f"u{abs(n) % 3}",
                        type=EventType(kind),
                        name=name,
                        at=now - back * MIN,
                        session_id=None if n < 0 else f"s{n}",
                    )
                    await events.ingest(principal, [event])
                case ("advance", minutes):
                    clock.advance(minutes * 60)
                    await assert_quality_from_rollups_is_raw(services, principal)
                case ("sweep",):
                    await services.sweeper.run()
                case ("refresh",):
                    result = await rollups.refresh(principal.tenant_id, chunk=3)
                    assert all(size <= 3 for size in result.chunks)
                    # Any time a refresh ran, the rollups are the recomputation at that time.
                    assert stored(services, principal) == recompute(
                        services, principal, current_zone, clock.now_ms()
                    )
                    await assert_quality_from_rollups_is_raw(services, principal)
                case ("delete", n):
                    await rt.db.writer.run(
                        lambda tx, n=n, now=now: delete(tx, principal, f"s{n}", now)
                    )
                case ("amend", n, minutes):
                    await rt.db.writer.run(
                        lambda tx, n=n, m=minutes: amend(
                            tx, principal, f"s{n}", m, now=rt.clock.now_ms()
                        )
                    )
        except SessionkeeperError:
            pass  # a conflict or an unknown id: the history goes on
        if moved_to is not None and i == len(history) // 2:
            await services.of(SettingsService).put(principal, timezone=moved_to)
            current_zone = moved_to
    await assert_quality_from_rollups_is_raw(services, principal)
    await services.sweeper.run()
    await rollups.refresh(principal.tenant_id, chunk=3)
    await assert_quality_from_rollups_is_raw(services, principal)


async def assert_quality_from_rollups_is_raw(services: Services, principal: Principal) -> None:
    """``GET /v1/metrics/quality`` answers from the rollups exactly what one pass over the
    sessions gives, whatever the rollups still wait for (dirty days, open and overdue
    sessions, today)."""
    quality = services.of(QualityService)
    for group_by in GroupBy:
        for days_back in (1, 3, 30):
            found = await quality.report(principal, days_back=days_back, group_by=group_by)
            raw = await quality.report(
                principal, days_back=days_back, group_by=group_by, from_rollups=False
            )
            assert found == raw, (group_by, days_back)


def _session(tx: Transaction, principal: Principal, sid: str) -> Any:
    s = sessions_table.c
    return tx.conn.execute(
        sa.select(sessions_table).where(s.tenant_id == principal.tenant_id, s.id == sid)
    ).first()


def delete(tx: Transaction, principal: Principal, sid: str, now: int) -> None:
    """What erasing a user's data does to one of its sessions."""
    row = _session(tx, principal, sid)
    if row is None:
        return
    s = sessions_table.c
    tx.conn.execute(sessions_table.delete().where(s.tenant_id == row.tenant_id, s.id == sid))
    tx.record(
        SessionDeleted(
            tenant_id=row.tenant_id,
            session_id=sid,
            user_id=row.user_id,
            kind=row.kind,
            started_at=row.started_at,
            ended_at=row.ended_at,
            at=now,
        )
    )


def amend(tx: Transaction, principal: Principal, sid: str, minutes: int, *, now: int) -> None:
    """What late evidence does to a closed session: its end moves, never past ``now`` (the
    rules cap every estimate at the time of the write)."""
    row = _session(tx, principal, sid)
    if row is None or row.ended_at is None:
        return
    ended = min(now, max(row.started_at, row.ended_at + minutes * MIN))
    s = sessions_table.c
    tx.conn.execute(
        sessions_table.update()
        .where(s.tenant_id == row.tenant_id, s.id == sid)
        .values(ended_at=ended, last_seen_at=min(row.last_seen_at, ended))
    )
    tx.record(
        SessionAmended(
            tenant_id=row.tenant_id,
            session_id=sid,
            user_id=row.user_id,
            kind=row.kind,
            status=Status(row.status),
            started_at=row.started_at,
            previous_ended_at=row.ended_at,
            ended_at=ended,
        )
    )


# The recomputation: every day from the raw rows, by brute force.


def comparable(row: DayRow) -> tuple[Any, ...]:
    return (
        row.sessions_started,
        row.sessions_active,
        row.users,
        row.duration_total_ms,
        (row.duration_estimated_ms, row.duration_low_ms, row.duration_high_ms),
        row.duration_p50_ms,
        row.duration_p95_ms,
        {k: v for k, v in row.by_status.items() if v},
        {k: v for k, v in row.events_by_type.items() if v},
        [(n.type, n.name, n.count) for n in row.top_names],
    )


def nearest_rank(values: list[int], p: int) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


# The duration histogram's upper bounds, in seconds; the last bucket is open.
BUCKET_BOUNDS_S = (60, 300, 900, 1800, 3600, 4 * 3600)


def recompute(
    services: Services, principal: Principal, zone_name: str, now: int
) -> dict[tuple[Any, ...], Any]:
    tz = ZoneInfo(zone_name)
    with services.runtime.db.read_engine.connect() as conn:
        sessions = conn.execute(
            sa.select(sessions_table).where(sessions_table.c.tenant_id == principal.tenant_id)
        ).all()
        events = conn.execute(
            sa.select(events_table).where(events_table.c.tenant_id == principal.tenant_id)
        ).all()
    instants = [s.started_at for s in sessions] + [e.at for e in events]
    if not instants:
        return {}

    def local(ms: int) -> date:
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).date()

    def start_of(day: date) -> int:
        return int(datetime.combine(day, time(), tzinfo=tz).timestamp() * 1000)

    settled = []
    for s in sessions:
        state = lifecycle.sweep(
            Lifecycle(
                status=Status(s.status),
                started_at=s.started_at,
                last_seen_at=s.last_seen_at,
                expires_at=s.expires_at,
                timeout_ms=s.timeout_ms,
                grace_ms=s.grace_ms,
                ended_at=s.ended_at,
                end_reason=None if s.end_reason is None else EndReason(s.end_reason),
                estimated=bool(s.estimated),
            ),
            now,
        )
        end = now if state.ended_at is None else state.ended_at
        bounds = lifecycle.duration_bounds(state, s.heartbeat_interval_ms)
        earliest, latest = (
            (max(end, s.started_at),) * 2
            if bounds is None
            else (s.started_at + bounds[0], s.started_at + bounds[1])
        )
        settled.append(
            (s, state.status.value, max(end, s.started_at), earliest, latest, state.estimated)
        )
    expected: dict[tuple[Any, ...], Any] = {}
    # How the sessions closed in the table ended, by the local day of the end.
    ends: dict[tuple[Any, ...], list[Any]] = {}
    for s in sessions:
        if s.status == Status.ACTIVE.value:
            continue
        duration = s.ended_at - s.started_at
        closed = Lifecycle(
            status=Status(s.status),
            started_at=s.started_at,
            last_seen_at=s.last_seen_at,
            expires_at=s.expires_at,
            timeout_ms=s.timeout_ms,
            grace_ms=s.grace_ms,
            ended_at=s.ended_at,
            end_reason=EndReason(s.end_reason),
            estimated=bool(s.estimated),
        )
        low, high = lifecycle.duration_bounds(closed, s.heartbeat_interval_ms) or (0, 0)
        key = ("ends", local(s.ended_at), s.kind, s.source or "api", s.end_reason)
        sums = ends.setdefault(key, [0, 0, 0, 0, 0, 0, [0] * (len(BUCKET_BOUNDS_S) + 1)])
        sums[0] += 1
        sums[1] += duration
        sums[2] += duration if s.estimated else 0
        sums[3] += high - low
        sums[4] += s.amended_count > 0
        sums[5] += s.continues is not None
        below = [duration < bound * 1000 for bound in BUCKET_BOUNDS_S]
        sums[6][below.index(True) if any(below) else len(BUCKET_BOUNDS_S)] += 1
    expected.update({key: (*sums[:6], tuple(sums[6])) for key, sums in ends.items()})
    day = local(min(instants))
    while day <= local(now):
        lo, hi = start_of(day), start_of(day + timedelta(days=1))
        by_kind: dict[str, dict[str, Any]] = defaultdict(
            lambda: {
                "started": 0,
                "durations": [],
                "users": set(),
                "status": Counter(),
                "bounds": [0, 0, 0],
            }
        )
        for s, status, end, earliest, latest, estimated in settled:
            covered = max(0, min(end, hi) - max(s.started_at, lo))
            inside = lo <= s.started_at < hi
            if inside or covered:
                k = by_kind[s.kind]
                k["started"] += inside
                k["durations"].append(covered)
                k["users"].add(s.user_id)
                k["status"][status] += 1
                k["bounds"][0] += covered if estimated else 0
                k["bounds"][1] += max(0, min(earliest, hi) - max(s.started_at, lo))
                k["bounds"][2] += max(0, min(latest, hi) - max(s.started_at, lo))
        users_of_day = {u for k in by_kind.values() for u in k["users"]}
        if users_of_day:
            expected["users", day] = len(users_of_day)
        day_events = [e for e in events if lo <= e.at < hi]
        kinds = set(by_kind) | {e.kind for e in day_events}
        for kind in kinds:
            k = by_kind.get(
                kind,
                {"started": 0, "durations": [], "users": set(), "status": {}, "bounds": [0, 0, 0]},
            )
            mine = [e for e in day_events if e.kind == kind]
            names = Counter((e.type, e.name) for e in mine)
            top = sorted(names.items(), key=lambda item: (-item[1], item[0]))[:10]
            users = len(k["users"]) if kind else len({e.user_id for e in mine})
            expected[day, kind] = (
                k["started"],
                len(k["durations"]),
                users,
                sum(k["durations"]),
                tuple(k["bounds"]),
                nearest_rank(k["durations"], 50),
                nearest_rank(k["durations"], 95),
                dict(k["status"]),
                dict(Counter(e.type for e in mine)),
                [(t, n, c) for (t, n), c in top],
            )
        day += timedelta(days=1)
    return expected


H = 60 * MIN


async def _refresh(services: Services, principal: Principal) -> None:
    await services.of(Rollups).refresher.refresh(principal.tenant_id)
    clock = services.runtime.clock
    assert stored(services, principal) == recompute(
        services, principal, "Europe/Prague", clock.now_ms()
    )


def test_changes_reach_every_day_they_touch(services: Services) -> None:
    """A session over three midnights that ends, then is amended; a late heartbeat; one batch
    of events over two days: each refresh agrees with the recomputation."""
    clock = services.runtime.clock
    assert isinstance(clock, ManualClock)
    clock.set(int(datetime(2026, 3, 27, 20, tzinfo=UTC).timestamp() * 1000))
    principal = new_tenant(services)

    async def scenario() -> None:
        await services.of(SettingsService).put(principal, timezone="Europe/Prague")
        await services.policies.put(
            principal, "*", heartbeat_interval_s=60, timeout_s=6 * 3600, grace_s=30
        )
        await services.sessions.start(principal, StartRequest(id="long", user_id="u", kind="k"))
        await services.sessions.start(principal, StartRequest(id="short", user_id="v", kind="k"))
        for i in range(12):  # three days, over the DST change, refreshed every 5 hours
            clock.advance(5 * 3600)
            if i == 0:
                await services.sessions.end(principal, "short")
            await services.sessions.heartbeat(principal, "long")
            await _refresh(services, principal)
        await services.sessions.end(principal, "long")
        await _refresh(services, principal)
        # Late evidence moves the end back over a midnight.
        await services.runtime.db.writer.run(
            lambda tx: amend(tx, principal, "long", -30 * 60, now=clock.now_ms())
        )
        await _refresh(services, principal)
        now = clock.now_ms()
        batch = [
            NewEvent(
                event_id=f"e{i}",
                user_id="u",
                type=EventType.ACTION,
                name="x",
                at=now - i * 4 * H,
                session_id="long",
            )
            for i in range(6)
        ]
        await services.of(EventService).ingest(principal, batch)
        await _refresh(services, principal)

    asyncio.run(scenario())


def test_a_session_counted_open_for_days_and_closed_back_then_leaves_no_day_behind(
    db_url: str,
) -> None:
    """Rollups count an open session on every day up to now. Closed later at a time days
    back (a client's end dated back; the sweep's estimated end under a long timeout), the
    days it was counted open after its end are computed again: each refresh agrees with the
    recomputation."""
    runtime = Runtime.open(settings_for(db_url, max_past_s=10 * 86_400), clock=ManualClock(0))
    runtime.db.migrate()
    services = build_services(runtime)
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    clock.set(int(now.timestamp() * 1000))
    principal = new_tenant(services)
    four_days_ago = int((now - timedelta(days=4)).timestamp() * 1000)

    async def scenario() -> None:
        await services.of(SettingsService).put(principal, timezone="Europe/Prague")
        for kind, timeout_s in (("lesson", 30 * 86_400), ("game", 4 * 86_400 + 60)):
            await services.policies.put(
                principal, kind, heartbeat_interval_s=600, timeout_s=timeout_s, grace_s=300
            )
        for session_id, kind in (("late", "lesson"), ("silent", "game")):
            request = StartRequest(id=session_id, user_id="u", kind=kind, started_at=four_days_ago)
            await services.sessions.start(principal, request)
        await _refresh(services, principal)  # both counted open on five days
        await services.sessions.end(principal, "late", at=four_days_ago + 3600 * 1000)
        await _refresh(services, principal)
        clock.advance(120)  # "silent" is overdue: the sweep ends it at its start plus grace
        assert await services.sweeper.run()
        await _refresh(services, principal)

    try:
        asyncio.run(scenario())
    finally:
        runtime.close()
