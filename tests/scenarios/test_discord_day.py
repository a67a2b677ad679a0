"""A day of a Discord community, tracked by a bot, checked against the scripted truth.

The seed application (a Discord activity tracker) saved progress every minute, marked silent
sessions stale after five minutes and re-created sessions after its own restarts. Here a
simulated bot does the same through sessionkeeper, on a scripted clock:

- 50 members play games (switching between them), sit in voice channels (switching channels),
  stream inside a channel and listen to Spotify; the truth is generated from a seed.
- Every 60 s the bot sends the full snapshot (``PUT /v1/presence/discord-bot``); voice joins and
  leaves are, most of the time, also pushed at once (``POST .../changes``).
- A launcher app reports its own sessions (``POST /v1/sessions`` and heartbeats every 60 s);
  two of its clients crash without ending.
- The bot is down twice: no snapshot for 150 s (within the 300 s timeout), then for 560 s.
- sessionkeeper itself restarts once, down for 3 minutes.
- The sweep runs every 15 s of scripted time; after each, no open session may be overdue and
  no (user, kind, label) may have two open sessions.

At the end every span of the truth is matched to the sessions stored for it.
"""

from __future__ import annotations

import contextlib
import itertools
from bisect import bisect_left
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sessionkeeper.clock import ManualClock
from tests.scenarios.discord_day import MINUTE, Piece, Span, expected_pieces, generate_day
from tests.scenarios.presence_support import (
    GRACE_MS,
    SOURCE,
    SWEEP_EVERY_S,
    TIMEOUT_MS,
    Key,
    active_by_key,
    all_sessions,
    ended_ms,
    key_of,
    last_seen_ms,
    post_changes,
    put_snapshot,
    set_policies,
    started_ms,
    sweep,
)
from tests.support import T0, Harness, iso, ms, running_app

SEED = 47
HOURS = 8
DAY_END = T0 + HOURS * 60 * MINUTE
LAST_ACTIVITY_END = DAY_END - 10 * MINUTE
SWEEP_MS = SWEEP_EVERY_S * 1000


def at(hours: int, minutes: int, seconds: int = 0) -> int:
    """A moment of the scripted day, from its start."""
    return T0 + ((hours * 60 + minutes) * 60 + seconds) * 1000


# (down from, back at): the first snapshot after an outage is sent at "back at".
SHORT_BOT_OUTAGE = (at(2, 0, 5), at(2, 2, 30))  # last snapshot 2:00:00, gap 150 s
LONG_BOT_OUTAGE = (at(5, 0, 5), at(5, 9, 20))  # last snapshot 5:00:00, gap 560 s
BOT_OUTAGES = [SHORT_BOT_OUTAGE, LONG_BOT_OUTAGE]
SK_DOWNTIME = (at(3, 30, 5), at(3, 33, 5))  # sessionkeeper stopped, then started again


@dataclass(frozen=True)
class LauncherRun:
    """A session the launcher app reports itself; a crashed client never ends it."""

    session_id: str
    user_id: str
    start: int
    end: int
    crashes: bool

    @property
    def heartbeats(self) -> list[int]:
        return list(range(self.start + MINUTE, self.end, MINUTE))


LAUNCHER = "Komplexaci Launcher"
LAUNCHER_RUNS = [
    LauncherRun("launcher-m03-1", "member-03", at(1, 10, 20), at(2, 40, 45), crashes=False),
    # Crashes at 3:27:00; its session expires at 3:31:40, while sessionkeeper is down.
    LauncherRun("launcher-m11-1", "member-11", at(3, 0, 40), at(3, 27, 0), crashes=True),
    # Its heartbeats at 3:30:30, 3:31:30 and 3:32:30 fail: sessionkeeper is down.
    LauncherRun("launcher-m15-1", "member-15", at(3, 10, 30), at(3, 50, 12), crashes=False),
    LauncherRun("launcher-m07-1", "member-07", at(4, 0, 10), at(4, 47, 35), crashes=True),
]


def bot_up(t: int) -> bool:
    return not any(down <= t < back for down, back in BOT_OUTAGES)


def sk_up(t: int) -> bool:
    return not SK_DOWNTIME[0] <= t < SK_DOWNTIME[1]


def push_delivered(t: int) -> bool:
    return bot_up(t) and sk_up(t)


def delivered_snapshots() -> list[int]:
    ticks = [T0 + k * MINUTE for k in range(HOURS * 60 + 1)]
    delivered = [t for t in ticks if bot_up(t) and sk_up(t)]
    return sorted({*delivered, *(back for _, back in BOT_OUTAGES)})


def in_trouble(start: int, end: int) -> bool:
    """Whether ``[start, end]`` touches an outage of the bot or of sessionkeeper."""
    windows = [*BOT_OUTAGES, SK_DOWNTIME]
    return any(start <= back and down <= end for down, back in windows)


# Events at one instant run in this order.
RESTART, CLIENT, PUSH, SNAPSHOT, SWEEP = range(5)


class DiscordDay:
    """Plays the scripted day against sessionkeeper and records what it must check."""

    def __init__(self, db_url: str, spans: list[Span]) -> None:
        self.db_url = db_url
        self.spans = spans
        self.clock = ManualClock(T0)
        self.h: Harness | None = None
        self._app: contextlib.AbstractAsyncContextManager[Harness] | None = None
        self.launcher_seen: dict[str, int] = {}  # last delivered heartbeat (or start)
        self.back_results: dict[int, dict[str, Any]] = {}
        self.before_stop: dict[str, dict[str, Any]] = {}
        self.after_restart: dict[str, dict[str, Any]] = {}
        self.closed_on_restart_sweep = 0
        self.first_snapshot_after_restart: dict[str, Any] | None = None
        self.sweeps = 0

    @property
    def api(self) -> Harness:
        assert self.h is not None, "sessionkeeper is down"
        return self.h

    async def start_sessionkeeper(self) -> None:
        self._app = running_app(self.db_url, self.clock)
        self.h = await self._app.__aenter__()

    async def stop_sessionkeeper(self) -> None:
        if self._app is not None:
            app, self._app, self.h = self._app, None, None
            await app.__aexit__(None, None, None)

    def events(self) -> list[tuple[int, int, int, str, Any]]:
        """Every scripted event, in time order: (time, order at that time, seq, name, data)."""
        events: list[tuple[int, int, str, Any]] = []
        for t in delivered_snapshots():
            events.append((t, SNAPSHOT, "snapshot", None))
        for t in range(T0, DAY_END + 1, SWEEP_MS):
            events.append((t, SWEEP, "sweep", None))
        pushes: dict[int, tuple[list[Span], list[Span]]] = defaultdict(lambda: ([], []))
        for span in self.spans:
            if span.pushed_start:
                pushes[span.start][0].append(span)
            if span.pushed_end:
                pushes[span.end][1].append(span)
        for t, (joins, leaves) in pushes.items():
            events.append((t, PUSH, "push", (joins, leaves)))
        for run in LAUNCHER_RUNS:
            events.append((run.start, CLIENT, "launcher_start", run))
            events.extend((t, CLIENT, "launcher_beat", run) for t in run.heartbeats)
            if not run.crashes:
                events.append((run.end, CLIENT, "launcher_end", run))
        events.append((SK_DOWNTIME[0], RESTART, "stop", None))
        events.append((SK_DOWNTIME[1], RESTART, "start", None))
        return sorted(
            ((t, order, i, name, payload) for i, (t, order, name, payload) in enumerate(events)),
            key=lambda e: e[:3],
        )

    async def play(self) -> None:
        await self.start_sessionkeeper()
        try:
            await set_policies(self.api, ["*", "voice"])
            for t, _, _, name, payload in self.events():
                self.clock.set(t)
                if name == "stop":
                    await self.on_stop()
                elif name == "start":
                    await self.on_start()
                elif not sk_up(t):
                    continue  # the caller gets a connection error and moves on
                elif name == "snapshot":
                    await self.on_snapshot(t)
                elif name == "sweep":
                    await self.on_sweep(t)
                elif name == "push":
                    if bot_up(t):
                        joins, leaves = payload
                        await post_changes(
                            self.api, [s.entry() for s in joins], [s.leave() for s in leaves], t
                        )
                else:
                    await self.on_launcher(name, payload, t)
        finally:
            await self.stop_sessionkeeper()

    async def on_snapshot(self, t: int) -> None:
        entries = [span.entry() for span in self.spans if span.present_at(t)]
        back = t in {b for _, b in BOT_OUTAGES}
        before = await active_by_key(self.api, source=SOURCE) if back else {}
        # Now and then the bot sends the plain list form, timed by the server's clock.
        bare = (t - T0) // MINUTE % 10 == 7
        result = await put_snapshot(self.api, entries, t, bare=bare)
        assert ms(result["at"]) == t
        if back:
            self.back_results[t] = {"before": before, "result": result, "entries": entries}
        if self.first_snapshot_after_restart is None and t > SK_DOWNTIME[1]:
            self.first_snapshot_after_restart = result

    async def on_sweep(self, t: int) -> None:
        await sweep(self.api)
        self.sweeps += 1
        await self.check_open_sessions(t)

    async def check_open_sessions(self, now: int) -> None:
        """After a sweep nothing open is overdue; one open session per key at most."""
        for key, item in (await active_by_key(self.api)).items():
            expires = ms(item["expires_at"])
            assert expires >= now, f"{key} open {now - expires} ms past its expiry at {iso(now)}"
            # A deadline is a timeout after the last sign of life, or after sessionkeeper
            # came back from its own downtime (which is nobody's silence).
            assert expires <= max(last_seen_ms(item), SK_DOWNTIME[1]) + TIMEOUT_MS

    async def on_launcher(self, name: str, run: LauncherRun, t: int) -> None:
        api = self.api
        if name == "launcher_start":
            body = {
                "id": run.session_id,
                "user_id": run.user_id,
                "kind": "app",
                "label": LAUNCHER,
                "started_at": iso(t),
            }
            first = await api.post("/v1/sessions", body, scope="ingest")
            retry = await api.post("/v1/sessions", body, scope="ingest")  # lost answer, retried
            assert (first.status_code, retry.status_code) == (201, 200), first.text
            self.launcher_seen[run.session_id] = t
        elif name == "launcher_beat":
            response = await api.post(f"/v1/sessions/{run.session_id}/heartbeat", {}, "ingest")
            assert response.status_code == 200, response.text
            self.launcher_seen[run.session_id] = t
        else:
            path = f"/v1/sessions/{run.session_id}/end"
            response = await api.post(path, {"at": iso(t)}, scope="ingest")
            assert response.status_code == 200, response.text

    async def on_stop(self) -> None:
        self.before_stop = {item["id"]: item for item in await all_sessions(self.api)}
        await self.stop_sessionkeeper()

    async def on_start(self) -> None:
        await self.start_sessionkeeper()
        self.closed_on_restart_sweep = await sweep(self.api)
        self.after_restart = {item["id"]: item for item in await all_sessions(self.api)}
        await self.check_open_sessions(self.clock.now_ms())


@contextlib.asynccontextmanager
async def played_day(db_url: str) -> AsyncIterator[tuple[DiscordDay, list[dict[str, Any]]]]:
    spans = generate_day(SEED, T0, LAST_ACTIVITY_END)
    day = DiscordDay(db_url, spans)
    await day.play()
    async with running_app(db_url, day.clock) as h:
        yield day, await all_sessions(h)


async def test_a_discord_day_matches_the_scripted_truth(db_url: str) -> None:
    async with played_day(db_url) as (day, stored):
        check_every_span_has_its_sessions(day.spans, stored)
        check_spans_away_from_outages_are_exact(day.spans, stored)
        check_tracker_outages(day, stored)
        check_sessionkeeper_restart(day, stored)
        check_launcher_runs(day, stored)
        check_the_day_is_closed_and_consistent(day, stored)


def stored_by_key(stored: list[dict[str, Any]]) -> dict[Key, list[dict[str, Any]]]:
    found: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for item in stored:
        if item["source"] == SOURCE:
            found[key_of(item)].append(item)
    for items in found.values():
        items.sort(key=started_ms)
    return found


def check_every_span_has_its_sessions(spans: list[Span], stored: list[dict[str, Any]]) -> None:
    """Each stored presence session is exactly one expected piece of one span, and back."""
    snapshots = delivered_snapshots()
    expected: dict[tuple[Key, int], Piece] = {}
    for span in spans:
        for piece in expected_pieces(span, snapshots, push_delivered):
            ident = (span.key, piece.started_at)
            assert ident not in expected, f"two pieces start together: {piece}"
            expected[ident] = piece
    found: dict[tuple[Key, int], dict[str, Any]] = {}
    for item in stored:
        if item["source"] != SOURCE:
            continue
        ident = (key_of(item), started_ms(item))
        assert ident not in found, f"two stored sessions start together: {item}"
        found[ident] = item

    missing = sorted(set(expected) - set(found), key=lambda i: i[1])
    extra = sorted(set(found) - set(expected), key=lambda i: i[1])
    assert not missing, f"{len(missing)} sessions lost, first {[expected[i] for i in missing[:3]]}"
    assert not extra, f"{len(extra)} sessions not in the truth, first {extra[:3]}"

    for ident, piece in expected.items():
        item = found[ident]
        got = (item["status"], item["end_reason"], item["estimated"], ended_ms(item))
        if piece.timed_out:
            want = ("timed_out", "timeout", True, piece.last_seen + GRACE_MS)
        else:
            want = ("ended", "presence_lost", False, piece.ended_at)
        assert got == want, f"{piece.span}: stored {got}, expected {want}"
        assert last_seen_ms(item) == piece.last_seen, piece


def check_spans_away_from_outages_are_exact(
    spans: list[Span], stored: list[dict[str, Any]]
) -> None:
    """Spans that neither begin nor end near an outage nor cross the long one: one session,
    exact to one snapshot interval of the truth (exact to the ms when pushed). Crossing a short
    outage or the sessionkeeper restart does not split them."""
    by_key = stored_by_key(stored)
    clean = 0
    for span in spans:
        if (
            in_trouble(span.start - MINUTE, span.start + MINUTE)
            or in_trouble(span.end - MINUTE, span.end + MINUTE)
            or (span.start < LONG_BOT_OUTAGE[1] and LONG_BOT_OUTAGE[0] < span.end)
        ):
            continue
        clean += 1
        items = [
            item
            for item in by_key[span.key]
            if started_ms(item) < span.end + MINUTE and (ended_ms(item) or DAY_END) > span.start
        ]
        assert len(items) == 1, (span, items)
        item = items[0]
        start_lag = started_ms(item) - span.start
        end_lag = (ended_ms(item) or 0) - span.end
        assert 0 <= start_lag < MINUTE and 0 <= end_lag < MINUTE, (span, item)
        if span.pushed_start:
            assert start_lag == 0, (span, item)
        if span.pushed_end:
            assert end_lag == 0, (span, item)
        assert (item["status"], item["end_reason"], item["estimated"]) == (
            "ended",
            "presence_lost",
            False,
        )
    assert clean >= 0.8 * len(spans), f"only {clean} of {len(spans)} spans away from outages"


def check_tracker_outages(day: DiscordDay, stored: list[dict[str, Any]]) -> None:
    by_id = {item["id"]: item for item in stored}
    by_key = stored_by_key(stored)

    # Short outage: the bot comes back within the timeout and continues every session.
    down, back = SHORT_BOT_OUTAGE
    record = day.back_results[back]
    before, result = record["before"], record["result"]
    assert before, "sessions were open when the bot went down"
    assert result["timed_out_count"] == 0
    refreshed = {key_of(ref): ref["session_id"] for ref in result["to_refresh"]}
    ended = {key_of(ref): ref["session_id"] for ref in result["to_end"]}
    assert set(refreshed) | set(ended) == set(before)
    assert all(before[key]["id"] == sid for key, sid in {**refreshed, **ended}.items())
    for key in refreshed:
        assert started_ms(by_id[before[key]["id"]]) < down  # one session across the outage
    last_snapshot = down - 5_000
    for ref in result["to_start"]:
        # Only what began after the last snapshot (and was not pushed in time) starts now.
        key = key_of(ref)
        span = next(s for s in day.spans if s.key == key and s.present_at(back))
        assert span.start > last_snapshot, span

    # Long outage: the sweep closed every session at its last snapshot + grace; the first
    # snapshot after the outage starts new ones for what is still going on.
    down, back = LONG_BOT_OUTAGE
    last_snapshot = down - 5_000
    record = day.back_results[back]
    result = record["result"]
    assert record["before"] == {}, "every bot session timed out during the long outage"
    assert result["timed_out_count"] == 0, "the sweep, not the snapshot, closed them"
    assert result["refreshed_count"] == 0 and result["ended_count"] == 0
    assert result["started_count"] == len(record["entries"]) > 0
    closed_by_outage = [
        item for item in stored if item["source"] == SOURCE and item["end_reason"] == "timeout"
    ]
    assert closed_by_outage, "the long outage timed sessions out"
    for item in closed_by_outage:
        seen = last_seen_ms(item)
        assert last_snapshot <= seen < down, item
        assert ended_ms(item) == seen + GRACE_MS and item["estimated"] is True
        # The activity really went on when last seen, so the estimate credits at most the
        # grace beyond the truth: within the policy bound.
        span = next(s for s in day.spans if s.key == key_of(item) and s.present_at(seen))
        assert (ended_ms(item) or 0) - span.end <= GRACE_MS, (span, item)
    for ref, session_id in zip(result["to_start"], result["started"], strict=True):
        item = by_id[session_id]
        assert started_ms(item) == back
        earlier = [i for i in by_key[key_of(ref)] if started_ms(i) < back]
        span = next(s for s in day.spans if s.key == key_of(ref) and s.present_at(back))
        if span.start < last_snapshot:
            # The same activity ran through the outage: its first part timed out.
            assert earlier and earlier[-1]["end_reason"] == "timeout", (span, earlier)


def check_sessionkeeper_restart(day: DiscordDay, stored: list[dict[str, Any]]) -> None:
    stop, start = SK_DOWNTIME
    before, after = day.before_stop, day.after_restart
    assert set(after) == set(before), "a restart neither loses nor invents sessions"
    changed = {sid for sid in before if before[sid] != after[sid]}
    # sessionkeeper's own downtime is nobody's silence: nothing was closed at the restart.
    # Every open session (the launcher session whose deadline fell inside the downtime among
    # them) kept going; only their deadlines moved: a full timeout from the moment
    # sessionkeeper was back, so clients retrying through the downtime have that long.
    assert "launcher-m11-1" in changed and day.closed_on_restart_sweep == 0
    for sid in changed:
        was, now = before[sid], after[sid]
        assert {name for name in now if now[name] != was[name]} == {"expires_at"}, sid
        assert ms(now["expires_at"]) == start + TIMEOUT_MS
    final = {item["id"]: item for item in stored}
    # That launcher client had crashed: it timed out later, at its estimate all the same.
    crashed = final["launcher-m11-1"]
    assert crashed["status"] == "timed_out" and crashed["estimated"] is True
    assert ended_ms(crashed) == last_seen_ms(crashed) + GRACE_MS
    assert ended_ms(crashed) not in (stop, start)
    for item in final.values():
        assert ended_ms(item) not in (stop, start), f"closed at the restart: {item}"
    # The bot's first snapshot after the restart continues what was open (same ids), unless a
    # pushed leave ended it in between.
    first = day.first_snapshot_after_restart
    assert first is not None and first["timed_out_count"] == 0
    first_at = ms(first["at"])
    carried_on = {ref["session_id"] for ref in first["to_refresh"] + first["to_end"]}
    open_presence = [
        sid for sid, item in after.items() if item["status"] == "active" and item["source"]
    ]
    assert open_presence
    for sid in open_presence:
        ended_by_push = start <= (ended_ms(final[sid]) or 0) < first_at
        assert sid in carried_on or ended_by_push, final[sid]


def check_launcher_runs(day: DiscordDay, stored: list[dict[str, Any]]) -> None:
    by_id = {item["id"]: item for item in stored}
    assert len([i for i in stored if i["kind"] == "app"]) == len(LAUNCHER_RUNS)
    for run in LAUNCHER_RUNS:
        item = by_id[run.session_id]
        assert started_ms(item) == run.start and item["label"] == LAUNCHER
        if not run.crashes:
            assert (item["status"], item["end_reason"], item["estimated"]) == (
                "ended",
                "client",
                False,
            )
            assert ended_ms(item) == run.end
            continue
        last_beat = day.launcher_seen[run.session_id]
        assert last_seen_ms(item) == last_beat
        assert (item["status"], item["end_reason"], item["estimated"]) == (
            "timed_out",
            "timeout",
            True,
        )
        assert ended_ms(item) == last_beat + GRACE_MS
        assert abs((ended_ms(item) or 0) - run.end) <= GRACE_MS, (run, item)


def check_the_day_is_closed_and_consistent(day: DiscordDay, stored: list[dict[str, Any]]) -> None:
    assert day.sweeps >= HOURS * 3600 // SWEEP_EVERY_S - 20  # every 15 s but while down
    assert [i for i in stored if i["status"] == "active"] == [], "nothing is left open"
    for key, items in stored_by_key(stored).items():
        for a, b in itertools.pairwise(items):
            assert (ended_ms(a) or 0) <= started_ms(b), f"overlapping sessions of {key}"
    truth = sum(span.end - span.start for span in day.spans)
    recorded = sum((ended_ms(i) or 0) - started_ms(i) for i in stored if i["source"] == SOURCE)
    # The seed promised 95 %+ of the activity time; the outages cost most of what is missing.
    assert 0.95 <= recorded / truth <= 1.05, recorded / truth


def test_delivered_snapshots_skip_the_outages() -> None:
    snaps = delivered_snapshots()
    for down, back in [*BOT_OUTAGES, SK_DOWNTIME]:
        i = bisect_left(snaps, down)
        assert snaps[i] >= back
    assert snaps[0] == T0 and snaps[-1] == DAY_END
