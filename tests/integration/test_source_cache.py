"""A snapshot answered from the open sessions a process kept in memory changes exactly what
one that reads the source would, whatever ends, beats, sweeps, policy changes and change sets
happen between snapshots, on both databases (``services/source_cache.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionkeeper.assembly import build_services
from sessionkeeper.clock import ManualClock
from sessionkeeper.domain.presence import PresenceDiff, PresenceEntry, PresenceKey
from sessionkeeper.domain.principal import Principal, operator
from sessionkeeper.errors import Conflict
from sessionkeeper.services.container import Services
from sessionkeeper.services.presence import PresenceOutcome
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import presence as presence_store
from tests.support import T0, settings_for

KINDS = ("game", "voice")
# Entry i: user i % 6, kind KINDS[i // 6], labelled when i is odd.
ENTRIES = [PresenceEntry(f"u{i % 6}", KINDS[i // 6], "x" if i % 2 else None) for i in range(12)]
_sources = itertools.count()

seconds = st.integers(0, 40)
entry_sets = st.frozensets(st.integers(0, 11), max_size=12)
step = st.one_of(
    st.tuples(st.just("snapshot"), entry_sets, seconds),
    # A snapshot sent with an older `at` than the server's time (a tracker's own clock).
    st.tuples(st.just("snapshot_back"), entry_sets, st.integers(0, 10), seconds),
    st.tuples(st.just("changes"), entry_sets, entry_sets, st.booleans(), seconds),
    st.tuples(st.just("end"), st.integers(0, 11), seconds),
    st.tuples(st.just("beat"), st.integers(0, 11), seconds),
    st.tuples(st.just("sweep"), seconds),
    st.tuples(st.just("policy"), st.sampled_from(KINDS), st.sampled_from([4, 10, 30])),
)


@pytest.fixture
def services(db_url: str) -> Iterator[Services]:
    runtime = Runtime.open(settings_for(db_url), clock=ManualClock(T0))
    runtime.db.migrate()
    built = build_services(runtime)
    yield built
    runtime.close()


@pytest.fixture
def principal(services: Services) -> Principal:
    tenant = services.tenants.create_tenant("cache")
    return operator(tenant.id, "cache")


def _changed(diff: PresenceDiff) -> tuple[list[PresenceKey], list[str], list[str]]:
    return (
        sorted(e.key for e in diff.to_start),
        sorted(p.session_id for p in diff.to_end),
        sorted(p.session_id for p in diff.to_refresh),
    )


class World:
    def __init__(self, services: Services, principal: Principal) -> None:
        self.services = services
        self.principal = principal
        self.source = f"src-{next(_sources)}"
        clock = services.presence.rt.clock
        assert isinstance(clock, ManualClock)
        self.clock = clock

    def open_ids(self) -> list[str]:
        def read(conn: Any) -> list[str]:
            rows, _ = presence_store.open_for_source(
                conn, self.principal, self.source, self.clock.now_ms()
            )
            return sorted(row[0] for row in rows)

        return list(self.services.presence.rt.db.reader.run_sync(read))

    async def reconcile(self, step: tuple[Any, ...]) -> PresenceOutcome:
        presence, when = self.services.presence, self.clock.now_ms()
        if step[0] == "snapshot_back":
            when -= step[2] * 1000
        if step[0] in ("snapshot", "snapshot_back"):
            entries = [ENTRIES[i] for i in sorted(step[1])]
            preview = await presence.snapshot(
                self.principal, self.source, entries, at=when, dry_run=True
            )
            outcome = await presence.snapshot(self.principal, self.source, entries, at=when)
        else:
            joins = [ENTRIES[i] for i in sorted(step[1])]
            leaves = [ENTRIES[i].key for i in sorted(step[2])]
            kwargs = {"at": when, "keepalive": step[3]}
            preview = await presence.changes(
                self.principal, self.source, joins, leaves, dry_run=True, **kwargs
            )
            outcome = await presence.changes(self.principal, self.source, joins, leaves, **kwargs)
        # The preview reads the source; the change itself may have used what was kept.
        assert _changed(outcome.diff) == _changed(preview.diff), step
        return outcome

    async def run(self, step: tuple[Any, ...]) -> None:
        sessions = self.services.sessions
        self.clock.advance(step[-1] if step[0] != "policy" else 0)
        if step[0] in ("snapshot", "snapshot_back", "changes"):
            await self.reconcile(step)
        elif step[0] in ("end", "beat"):
            ids = self.open_ids()
            if not ids:
                return
            target = ids[step[1] % len(ids)]
            if step[0] == "end":
                await sessions.end(self.principal, target)
            else:
                with contextlib.suppress(Conflict):  # closed by its timeout meanwhile
                    await sessions.heartbeat(self.principal, target)
        elif step[0] == "sweep":
            await self.services.sweeper.run()
        else:
            timeout = step[2]
            await self.services.policies.put(
                self.principal,
                step[1],
                heartbeat_interval_s=timeout / 2,
                timeout_s=timeout,
                grace_s=1,
            )
        self.check_kept()

    def check_kept(self) -> None:
        """Whatever the cache would answer from now is what the source holds open."""
        known = self.services.presence.cache.known((self.principal.tenant_id, self.source))
        if known is None:
            return
        revision = self.services.presence.rt.db.reader.run_sync(
            lambda conn: presence_store.revision_of(conn, self.principal, self.source)
        )
        if not known.usable(revision, self.clock.now_ms()):
            return
        kept = sorted(row[0] for row in known.sessions.kept.values())
        assert kept == self.open_ids()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=st.lists(step, min_size=1, max_size=25))
def test_a_kept_source_answers_as_a_read_one_would(
    services: Services, principal: Principal, script: list[tuple[Any, ...]]
) -> None:
    world = World(services, principal)

    async def play() -> None:
        for item in script:
            await world.run(item)

    asyncio.run(play())


def test_settled_snapshots_are_answered_from_memory(
    services: Services, principal: Principal
) -> None:
    """The case the cache is for, and what makes it read the source again."""
    world = World(services, principal)
    stats = services.presence.cache.stats

    async def play() -> None:
        await world.run(("snapshot", frozenset(range(8)), 0))
        misses = stats.misses
        for _ in range(3):  # each within the shortest timeout (the default policy's)
            await world.run(("snapshot", frozenset(range(8)), 1))
        assert (stats.hits, stats.misses) == (3, misses)
        await world.run(("end", 0, 1))  # another path changed the source: read again
        await world.run(("snapshot", frozenset(range(8)), 1))
        assert stats.misses == misses + 1
        await world.run(("snapshot", frozenset(range(8)), 1))
        assert stats.hits == 4
        # Later than any open session's deadline could be: read, and close the overdue.
        world.clock.advance(3_600_000)
        outcome = await world.reconcile(("snapshot", frozenset(range(8)), 0))
        assert outcome.timed_out == 8 and stats.misses == misses + 2

    asyncio.run(play())


@pytest.fixture
def second(db_url: str, services: Services) -> Iterator[Services]:
    """Another server process on the same database: its own writer and its own cache."""
    clock = services.presence.rt.clock
    runtime = Runtime.open(settings_for(db_url), clock=clock)
    built = build_services(runtime)
    yield built
    runtime.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=st.lists(st.tuples(st.booleans(), step), min_size=1, max_size=20))
def test_processes_sharing_a_source_never_answer_from_a_stale_memory(
    services: Services, second: Services, principal: Principal, script: list[tuple[bool, Any]]
) -> None:
    """Each step runs in one of two processes; what the other did since moves the revision
    whenever it changed one of the source's open sessions."""
    first_world = World(services, principal)
    second_world = World(second, principal)
    second_world.source = first_world.source

    async def play() -> None:
        for in_second, item in script:
            await (second_world if in_second else first_world).run(item)
            first_world.check_kept()
            second_world.check_kept()

    asyncio.run(play())


@pytest.mark.parametrize("later_own_beat", [False, True])
def test_a_raised_timeout_does_not_stretch_a_deadline_the_session_keeps(
    services: Services, principal: Principal, later_own_beat: bool
) -> None:
    """A policy change sets the timeout but leaves a session's own deadline; a snapshot whose
    `at` is no later than the session's own beat leaves that deadline in force, shorter than
    the new timeout says. The cache must not take the new timeout for it."""
    world = World(services, principal)
    entries = [ENTRIES[0]]

    async def play() -> None:
        put = services.policies.put
        await put(principal, "game", heartbeat_interval_s=5, timeout_s=10, grace_s=1)
        start = world.clock.now_ms()
        await services.presence.snapshot(principal, world.source, entries, at=start)
        (sid,) = world.open_ids()
        if later_own_beat:  # the session's own beat is later than the next snapshot's time
            world.clock.advance(5)
            await services.sessions.heartbeat(principal, sid, at=start + 5_000)
            again = start + 4_000
        else:  # the same snapshot sent again
            world.clock.advance(1)
            again = start
        await put(principal, "game", heartbeat_interval_s=30, timeout_s=60, grace_s=1)
        await services.presence.snapshot(principal, world.source, entries, at=again)
        world.clock.advance(30)  # past the deadline the session keeps, within the new timeout
        outcome = await world.reconcile(("snapshot", frozenset({0}), 0))
        assert outcome.timed_out == 1 and len(outcome.diff.to_start) == 1

    asyncio.run(play())
