"""The rules a session handle and a presence reporter follow while the server cannot be
reached: which evidence is kept, in which order it goes out, and what each answer means.

These are the pure parts (no I/O, times passed in), fed with answers parsed from the API's
own JSON; ``test_offline_handle.py`` and ``test_presence_reporter.py`` run them against a real
server.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from sessionkeeper.client import BatchResult, Conflict, InvalidInput, ServerUnavailable, Session
from sessionkeeper.client.backlog import Backlog
from sessionkeeper.client.chain import Cadence, StartRequest, Step
from sessionkeeper.client.evidence import MAX_PAST_MS, as_datetime, thin
from sessionkeeper.client.outbox import Outbox

T0 = 1_800_000_000_000  # epoch ms


@pytest.mark.parametrize(
    ("ats", "anchor", "max_gap", "kept"),
    [
        # a regular run keeps one beat per max_gap, and the newest
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0, 3, [3, 6, 9, 10]),
        # a real gap keeps both of its ends
        ([1, 2, 10, 11], 0, 3, [2, 10, 11]),
        # the gap from the evidence the server holds counts too
        ([5, 6, 7], 0, 3, [5, 7]),
        # nothing held yet: the first is kept
        ([1, 2, 3, 4], None, 10, [1, 4]),
        ([7], 0, 3, [7]),
        ([], 0, 3, []),
    ],
)
def test_thinning_keeps_every_gap_within_the_limit(
    ats: list[int], anchor: int | None, max_gap: int, kept: list[int]
) -> None:
    assert [ats[i] for i in thin(ats, anchor=anchor, max_gap=max_gap)] == kept


def test_thinning_never_breaks_a_chain() -> None:
    rng = random.Random(7)
    for _ in range(200):
        max_gap = rng.randint(2, 50)
        ats, at = [], 0
        for _ in range(rng.randint(1, 300)):
            at += rng.randint(1, max_gap + 5)
            ats.append(at)
        kept = [ats[i] for i in thin(ats, anchor=0, max_gap=max_gap)]
        assert kept[-1] == ats[-1]
        for before, after in zip([0, *ats], ats, strict=False):
            if after - before > max_gap:  # a real gap stays, with both ends
                assert after in kept and (before == 0 or before in kept)
        chained = [0, *kept]
        for before, after in itertools.pairwise(chained):
            original = [a for a in [0, *ats] if before <= a <= after]
            longest = max(b - a for a, b in itertools.pairwise(original))
            assert after - before <= max(max_gap, longest)


# Outbox: the handle's evidence and the answers


def session_json(
    sid: str, *, status: str = "active", last_seen: int = T0, timeout: int = 6_000, **more: Any
) -> Any:
    body: dict[str, Any] = {
        "id": sid,
        "user_id": "u",
        "kind": "app",
        "status": status,
        "started_at": as_datetime(T0).isoformat(),
        "last_seen_at": as_datetime(last_seen).isoformat(),
        "expires_at": as_datetime(last_seen + timeout).isoformat() if status == "active" else None,
    }
    return {**body, **more}


def session(sid: str, **kw: Any) -> Session:
    return Session.from_json(session_json(sid, **kw))


def outbox(**options: Any) -> Outbox:
    values: dict[str, Any] = {
        "id": "s1",
        "started_at": T0,
        "heartbeat_every": 2.0,
        "continue_after_gap": True,
        "max_pending": 10_000,
        "backoff": 0.5,
    }
    return Outbox(StartRequest("u", "app"), **{**values, **options})


def started(box: Outbox, timeout: int = 6_000) -> Outbox:
    step = box.next_step(T0)
    assert step is not None and step.kind == "start"
    assert step.call.json["started_at"] == as_datetime(T0).isoformat()
    box.answered(step, session("s1", timeout=timeout))
    return box


def batch(*outcomes: tuple[str, str]) -> BatchResult:
    return BatchResult.from_json(
        {
            "results": [
                {"session_id": sid, "outcome": outcome, "status": "timed_out"}
                for sid, outcome in outcomes
            ],
            "ok": 0,
            "closed": 0,
            "not_found": 0,
        }
    )


def take(box: Outbox, kind: str, now: int = T0) -> Step:
    step = box.next_step(now)
    assert step is not None and step.kind == kind, step
    return step


def test_evidence_goes_out_in_order_start_beats_end() -> None:
    box = outbox()
    for n in range(1, 5):
        box.beat(T0 + 2_000 * n)
    box.end(T0 + 9_000)
    start = take(box, "start")
    assert box.pending == 6
    box.answered(start, session("s1", timeout=2_000))  # no beat is superfluous
    beats = take(box, "beats")  # the backlog but its newest, through the batch endpoint
    assert beats.ats == (T0 + 2_000, T0 + 4_000, T0 + 6_000)
    assert [b["at"] for b in beats.call.json["heartbeats"]] == [
        as_datetime(at).isoformat() for at in beats.ats
    ]
    box.answered(beats, batch(*[("s1", "ok")] * 3))
    beat = take(box, "beat")  # the newest alone: its answer describes the session
    box.answered(beat, session("s1", last_seen=T0 + 8_000))
    end = take(box, "end")
    assert end.call.json["at"] == as_datetime(T0 + 9_000).isoformat()
    box.answered(end, session("s1", status="ended"))
    assert box.finished and box.pending == 0 and box.next_step(T0) is None


def test_policies_are_read_when_the_interval_is_not_given() -> None:
    box = outbox(heartbeat_every=None)
    assert box.interval == 1.0  # unknown yet: often enough for any policy
    box.answered(take(box, "start"), session("s1"))
    assert not box.ready
    policies = {"items": [{"kind": "*", "heartbeat_interval_s": 30, "timeout_s": 90, "grace_s": 5}]}
    from sessionkeeper.client import Policies

    box.answered(take(box, "policies"), Policies.from_json(policies))
    assert box.ready and box.interval == 30 and box.cadence == Cadence(30, 90)


def test_a_transient_failure_keeps_everything_and_waits_at_most_an_interval() -> None:
    box = started(outbox())
    box.beat(T0 + 2_000)
    step = take(box, "beat")
    waits = [box.failed(step, ServerUnavailable("down")) for _ in range(12)]
    assert all(0 < w <= 2.0 for w in waits)
    assert box.failed(step, ServerUnavailable("busy", status=429, retry_after=30)) == 30
    assert box.pending == 1 and take(box, "beat").ats == step.ats


def test_a_real_gap_in_a_batch_starts_a_continuation_from_that_beat() -> None:
    box = started(outbox(), timeout=2_000)
    ats = [T0 + 2_000, T0 + 4_000, T0 + 30_000, T0 + 32_000, T0 + 34_000]
    for at in ats:
        box.beat(at)
    box.end(T0 + 35_000)
    step = take(box, "beats")
    box.answered(step, batch(("s1", "ok"), ("s1", "ok"), ("s1", "closed"), ("s1", "closed")))
    assert [link.id for link in box.links][:1] == ["s1"] and len(box.links) == 2
    second = box.current
    assert (second.started_at, second.continues) == (T0 + 30_000, "s1")
    start = take(box, "start")
    assert start.call.json["continues"] == "s1"
    assert start.call.json["started_at"] == as_datetime(T0 + 30_000).isoformat()
    box.answered(start, session(second.id, last_seen=T0 + 30_000, timeout=2_000))
    beats = take(box, "beats")  # what came after the gap goes to the continuation
    assert beats.ats == (T0 + 32_000,)
    assert {b["session_id"] for b in beats.call.json["heartbeats"]} == {second.id}
    box.answered(beats, batch((second.id, "ok")))
    box.answered(take(box, "beat"), session(second.id, last_seen=T0 + 34_000))
    described = take(box, "describe")  # the first one's description predates the gap
    assert described.link.id == "s1"
    box.answered(described, session("s1", status="timed_out"))
    end = take(box, "end")
    assert end.call.path == f"/v1/sessions/{second.id}/end"


def test_a_beat_refused_after_a_gap_continues_or_stops_as_asked() -> None:
    closed = session("s1", status="timed_out", end_reason="timeout")
    box = started(outbox())
    box.beat(T0 + 20_000)
    box.failed(take(box, "beat"), Conflict("closed", session=closed))
    assert len(box.links) == 2 and box.current.started_at == T0 + 20_000
    assert box.describe(box.links[0]) == closed and not box.outcome.closed_by_server

    box = started(outbox(continue_after_gap=False))
    box.beat(T0 + 20_000)
    box.end(T0 + 21_000)
    box.failed(take(box, "beat"), Conflict("closed", session=closed))
    assert box.outcome.closed_by_server and box.finished and box.next_step(T0) is None


def test_a_session_closed_by_a_fact_stops_the_handle() -> None:
    box = started(outbox())
    box.beat(T0 + 2_000)
    ended = session("s1", status="ended", end_reason="admin")
    box.failed(take(box, "beat"), Conflict("closed", session=ended))
    assert box.outcome.closed_by_server and len(box.links) == 1 and box.finished


def test_a_refusal_stops_delivery_but_a_refused_time_only_drops_that_beat() -> None:
    box = started(outbox(), timeout=2_000)
    for n in range(1, 4):
        box.beat(T0 + 2_000 * n)
    step = take(box, "beats")
    box.failed(step, InvalidInput("too old", field="heartbeats.1.at"))
    assert box.pending == 2 and take(box, "beats").ats == (T0 + 2_000,)
    box.failed(take(box, "beats"), InvalidInput("no", field="heartbeats"))
    assert box.finished and isinstance(box.outcome.refusal, InvalidInput)


def test_a_start_whose_answer_was_lost_is_recognised_as_ours() -> None:
    box = outbox()
    step = take(box, "start")
    box.failed(step, Conflict("exists with a different start", session=session("s1")))
    assert box.current.stored and box.outcome.refusal is None


def test_evidence_too_old_for_the_server_is_given_up_and_the_start_moves() -> None:
    box = outbox()
    for n in range(1, 4):
        box.beat(T0 + 3_600_000 * n)
    now = T0 + MAX_PAST_MS + 3_600_000 * 2 - 61_000  # the beat at +1 h is too old
    step = take(box, "start", now)
    assert step.call.json["started_at"] == as_datetime(T0 + 3_600_000 * 2).isoformat()
    assert box.outcome.dropped == 1 and box.pending == 2


def test_a_long_outage_is_thinned_to_one_beat_per_timeout_and_capped() -> None:
    box = started(outbox(heartbeat_every=1.0))  # the start's answer told the timeout: 6 s
    for n in range(1, 3_601):  # an hour of beats every second: each one fits once thinned
        box.beat(T0 + 1_000 * n)
    assert box.pending <= 3_600 // 6 + 2 and box.outcome.dropped == 0
    kept = [T0, *list(box._beats._ats)]
    assert kept[-1] == T0 + 3_600_000
    assert all(b - a <= 6_000 for a, b in itertools.pairwise(kept))

    box = started(outbox(heartbeat_every=1.0, max_pending=100))
    highest = 0
    for n in range(1, 3_601):  # more than 100 timeouts: the oldest go
        box.beat(T0 + 1_000 * n)
        highest = max(highest, box.pending)
    assert highest == 100 and box.outcome.dropped > 0
    kept = list(list(box._beats._ats))
    assert kept[-1] == T0 + 3_600_000
    assert all(b - a <= 6_000 for a, b in itertools.pairwise(kept))


def test_the_backlog_thins_further_once_the_timeout_is_known() -> None:
    box = outbox(heartbeat_every=1.0)  # the server is unreachable: no timeout known yet
    for n in range(1, 61):
        box.beat(T0 + 1_000 * n)
    assert box.pending == 61  # a gap of one interval is all it may assume
    box.answered(take(box, "start"), session("s1"))  # open, with a 6 s timeout
    assert box.pending <= 60 // 6 + 2


def test_a_deadline_held_after_an_outage_does_not_stretch_the_gaps_kept() -> None:
    # After the service's own outage the server holds the session open a full timeout from
    # its return: the deadline lies 20 s after the last beat, but the timeout is still 6 s.
    box = outbox(heartbeat_every=1.0)
    for n in range(1, 61):
        box.beat(T0 + 1_000 * n)
    held = session("s1", timeout=20_000, timeout_s=6.0)
    box.answered(take(box, "start"), held)
    kept = [T0, *list(box._beats._ats)]
    assert all(b - a <= 6_000 for a, b in itertools.pairwise(kept))
    # From a server that does not say its timeout, the deadline is all there is to go by.
    box = outbox(heartbeat_every=1.0)
    for n in range(1, 61):
        box.beat(T0 + 1_000 * n)
    box.answered(take(box, "start"), session("s1", timeout=20_000))
    kept = [T0, *list(box._beats._ats)]
    assert max(b - a for a, b in itertools.pairwise(kept)) > 6_000


def test_a_backlog_of_snapshots_keeps_changes_and_shares_unchanged_states() -> None:
    backlog = Backlog(max_gap_ms=3_000, max_kept=1_000)
    ann = [{"user_id": "ann", "kind": "voice"}]
    both = [*ann, {"user_id": "bob", "kind": "voice"}]
    states = [ann] * 40 + [both] * 2 + [ann] * 40
    for n, state in enumerate(states):
        backlog.add(T0 + 1_000 * n, state)
    kept = []
    while (snapshot := backlog.oldest()) is not None:
        kept.append(snapshot)
        backlog.accepted(snapshot)
    ats = [s.at for s in kept]
    assert ats == sorted(ats) and ats[-1] == T0 + 81_000
    assert all(b - a <= 3_000 for a, b in itertools.pairwise(ats))
    # bob came at +40 s and went at +42 s: both moments are kept
    assert [(s.at, len(s.entries)) for s in kept if s.at in (T0 + 40_000, T0 + 42_000)] == [
        (T0 + 40_000, 2),
        (T0 + 42_000, 1),
    ]
    assert len(kept) < len(states) // 2 and backlog.dropped == 0


def test_a_snapshot_backlog_is_capped_oldest_first() -> None:
    backlog = Backlog(max_gap_ms=1_000, max_kept=5)
    for n in range(50):
        backlog.add(T0 + n, [{"user_id": f"u{n}", "kind": "voice"}])  # every one a change
        assert len(backlog) <= 5
    oldest = backlog.oldest()
    assert oldest is not None and oldest.at > T0 + 40 and backlog.dropped > 0
