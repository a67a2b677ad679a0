"""The lifecycle rules, table-driven: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sessionkeeper.domain import lifecycle as lc
from sessionkeeper.domain.lifecycle import EndReason, Status

TIMEOUT = 300_000
GRACE = 30_000


def fresh(started: int = 0) -> lc.Lifecycle:
    return lc.start(started, timeout_ms=TIMEOUT, grace_ms=GRACE)


def test_start_sets_expiry_from_timeout() -> None:
    s = fresh(1_000)
    assert (s.status, s.last_seen_at, s.expires_at) == (Status.ACTIVE, 1_000, 301_000)


@pytest.mark.parametrize(
    ("last_seen", "beat_at", "now", "expect_last_seen", "expect_status"),
    [
        (60_000, 120_000, 120_000, 120_000, Status.ACTIVE),  # moves forward
        (120_000, 60_000, 120_000, 120_000, Status.ACTIVE),  # older beat: no-op
        (120_000, 120_000, 120_000, 120_000, Status.ACTIVE),  # same time: no-op
        (0, 300_000, 300_000, 300_000, Status.ACTIVE),  # exactly at expiry: still alive
        (0, 300_001, 300_001, 0, Status.TIMED_OUT),  # after expiry: cannot revive
        (0, 200_000, 600_000, 200_000, Status.TIMED_OUT),  # late delivery, overdue since
        (0, 200_000, 499_000, 200_000, Status.ACTIVE),  # late delivery, still in time
    ],
)
def test_heartbeat_is_monotonic_and_cannot_revive(
    last_seen: int, beat_at: int, now: int, expect_last_seen: int, expect_status: Status
) -> None:
    s = fresh()
    if last_seen:
        s = lc.heartbeat(s, last_seen, last_seen)
    after = lc.heartbeat(s, beat_at, now)
    assert after.last_seen_at == expect_last_seen
    assert after.status is expect_status


def test_heartbeat_uses_policy_in_force_now() -> None:
    s = lc.heartbeat(fresh(), 10_000, 10_000, timeout_ms=60_000)
    assert s.expires_at == 70_000
    assert s.timeout_ms == 60_000


@pytest.mark.parametrize(
    ("last_seen", "now", "expected_end"),
    [
        (100_000, 100_000 + TIMEOUT + 1, 100_000 + GRACE),  # grace credited
        (100_000, 10**9, 100_000 + GRACE),  # long after: still last_seen + grace
    ],
)
def test_sweep_closes_overdue_at_estimated_end(last_seen: int, now: int, expected_end: int) -> None:
    s = lc.heartbeat(fresh(), last_seen, last_seen)
    closed = lc.sweep(s, now)
    assert closed.status is Status.TIMED_OUT
    assert closed.end_reason is EndReason.TIMEOUT
    assert closed.ended_at == expected_end
    assert closed.estimated


def test_grace_is_capped_at_now_and_at_expiry() -> None:
    # Policies keep grace <= timeout, but a grace raised after the last heartbeat can exceed
    # what is left: the estimate never passes the moment the session was declared gone,
    # and never the present.
    s = lc.start(0, timeout_ms=1_000, grace_ms=5_000)
    closed = lc.sweep(s, 2_000)
    assert closed.ended_at == 1_000
    assert closed.ended_at is not None and closed.ended_at <= 2_000


def test_sweep_leaves_alive_and_closed_sessions_alone() -> None:
    s = fresh()
    assert lc.sweep(s, TIMEOUT) is s  # not overdue: now == expires_at
    ended = lc.end(s, 1_000, 1_000)
    assert lc.sweep(ended, 10**9) is ended


@pytest.mark.parametrize(
    ("end_at", "now", "status", "ended_at", "estimated"),
    [
        (50_000, 50_000, Status.ENDED, 50_000, False),
        (10_000, 50_000, Status.ENDED, 40_000, False),  # never before the last heartbeat
        (200_000, 400_000, Status.ENDED, 200_000, False),  # late delivery of a timely end
        (400_000, 400_000, Status.TIMED_OUT, 40_000 + GRACE, True),  # ended after expiry
    ],
)
def test_end(end_at: int, now: int, status: Status, ended_at: int, estimated: bool) -> None:
    s = lc.heartbeat(fresh(), 40_000, 40_000)
    after = lc.end(s, end_at, now)
    assert (after.status, after.ended_at, after.estimated) == (status, ended_at, estimated)


def test_end_is_idempotent() -> None:
    once = lc.end(fresh(), 5_000, 5_000)
    assert lc.end(once, 9_000, 9_000) == once
    assert once.duration_ms == 5_000


def test_end_reason_sets_status() -> None:
    assert lc.end(fresh(), 1, 1, EndReason.CLEANUP).status is Status.EXPIRED
    assert lc.end(fresh(), 1, 1, EndReason.ADMIN).status is Status.ENDED
    assert lc.end(fresh(), 1, 1, EndReason.PRESENCE_LOST).end_reason is EndReason.PRESENCE_LOST


def test_heartbeat_on_closed_session_changes_nothing() -> None:
    ended = lc.end(fresh(), 1_000, 1_000)
    assert lc.heartbeat(ended, 2_000, 2_000) is ended


@pytest.mark.parametrize(
    ("at", "now", "error"),
    [
        (0, 0, None),
        (-86_400_000, 0, None),
        (-86_400_001, 0, "is more than 86400 s in the past"),
        (300_000, 0, None),
        (300_001, 0, "is more than 300 s in the future"),
    ],
)
def test_client_time_window(at: int, now: int, error: str | None) -> None:
    assert lc.client_time_error(at, now, max_past_ms=86_400_000, max_future_ms=300_000) == error


def test_unbiased_grace_for_uniform_stop_times() -> None:
    """With beats every h, a client that stops uniformly within an interval stopped h/2 after
    its last beat on average: the default grace h/2 makes the mean error zero."""
    h = 60_000
    errors = []
    for offset in range(0, h, 1_000):  # the true stop, offset after the last beat at 0
        s = lc.start(0, timeout_ms=5 * h, grace_ms=h // 2)
        closed = lc.sweep(s, 10 * h)
        assert closed.ended_at is not None
        errors.append(closed.ended_at - offset)
    assert abs(sum(errors) / len(errors)) <= 1_000


# Late evidence: heartbeats and ends made in time but delivered after the sweep closed the
# session (TIMEOUT 300 s, GRACE 30 s; the session was last seen at 0 and swept at 400 s).
def swept() -> lc.Lifecycle:
    closed = lc.sweep(fresh(), 400_000)
    assert (closed.status, closed.ended_at) == (Status.TIMED_OUT, GRACE)
    return closed


@pytest.mark.parametrize(
    ("beat_at", "now", "status", "last_seen", "ended_at", "amended", "counted"),
    [
        # made in time, delivered late: reopens while the new deadline is still ahead
        (250_000, 500_000, Status.ACTIVE, 250_000, None, 1, True),
        # made in time, but the new deadline has passed too: closed again, later
        (100_000, 500_000, Status.TIMED_OUT, 100_000, 100_000 + GRACE, 1, True),
        # exactly at the deadline: still alive then
        (300_000, 500_000, Status.ACTIVE, 300_000, None, 1, True),
        # after a real gap: never revives, nothing changes
        (300_001, 500_000, Status.TIMED_OUT, 0, GRACE, 0, False),
        # older than the last beat: counts (it was alive then) but changes nothing
        (0, 500_000, Status.TIMED_OUT, 0, GRACE, 0, True),
    ],
)
def test_late_heartbeat_amends_a_timed_out_session(
    beat_at: int,
    now: int,
    status: Status,
    last_seen: int,
    ended_at: int | None,
    amended: int,
    counted: bool,
) -> None:
    after, [did_count] = lc.heartbeats(swept(), [beat_at], now)
    assert (after.status, after.last_seen_at, after.ended_at) == (status, last_seen, ended_at)
    assert after.amended_count == amended
    assert after.amended_at == (now if amended else None)
    assert did_count is counted
    assert after.estimated is (status is Status.TIMED_OUT)


def test_buffered_beats_chain_in_time_order_whatever_order_they_arrive_in() -> None:
    # Every 200 s for 20 minutes while the network was down, delivered at once, shuffled.
    ats = [200_000 * i for i in range(1, 7)]
    shuffled = [ats[3], ats[0], ats[5], ats[2], ats[1], ats[4]]
    after, counted = lc.heartbeats(swept(), shuffled, 1_300_000)
    assert (after.status, after.last_seen_at, after.expires_at) == (
        Status.ACTIVE,
        1_200_000,
        1_500_000,
    )
    assert counted == [True] * 6
    assert after.amended_count == 1  # one delivery, one amendment


def test_a_real_gap_in_the_buffer_stops_the_chain() -> None:
    # Beats at 200 s and 400 s, then silence until 900 s (> 300 s after 400 s): the beats
    # after the gap do not count; the session ends at 400 s + grace.
    after, counted = lc.heartbeats(swept(), [200_000, 400_000, 900_000, 950_000], 960_000)
    assert counted == [True, True, False, False]
    assert (after.status, after.ended_at) == (Status.TIMED_OUT, 400_000 + GRACE)


def test_chain_on_an_active_session_is_not_an_amendment() -> None:
    after, counted = lc.heartbeats(fresh(), [200_000, 280_000], 290_000)
    assert after.status is Status.ACTIVE and counted == [True, True]
    assert after.amended_count == 0 and after.amended_at is None


def test_a_chain_delivered_after_the_deadline_amends_swept_or_not() -> None:
    """Delivered at 450 s, after the deadline of 300 s: reads showed the session timed out
    by then, so the chain that revives it amends it, as it does once the sweep closed it."""
    late, counted = lc.heartbeats(fresh(), [200_000, 400_000], 450_000)
    assert late.status is Status.ACTIVE and counted == [True, True]
    assert (late.amended_count, late.amended_at) == (1, 450_000)
    assert lc.heartbeats(lc.sweep(fresh(), 450_000), [200_000, 400_000], 450_000)[0] == late
    ended = lc.end(fresh(), 120_000, 450_000)
    assert ended == lc.end(lc.sweep(fresh(), 450_000), 120_000, 450_000)
    assert (ended.status, ended.ended_at, ended.amended_count) == (Status.ENDED, 120_000, 1)


def test_late_end_made_in_time_is_exact() -> None:
    after = lc.end(swept(), 120_000, 500_000)
    assert (after.status, after.ended_at, after.estimated) == (Status.ENDED, 120_000, False)
    assert (after.amended_count, after.amended_at) == (1, 500_000)
    # an end after the deadline is no evidence of being alive: the estimate stays
    assert lc.end(swept(), 300_001, 500_000) == swept()


def test_facts_are_never_amended() -> None:
    for reason in (EndReason.CLIENT, EndReason.PRESENCE_LOST, EndReason.CLEANUP, EndReason.ADMIN):
        ended = lc.end(fresh(), 1_000, 1_000, reason)
        assert lc.heartbeats(ended, [500], 2_000) == (ended, [False])
        assert lc.end(ended, 500, 2_000) == ended


# Where the true duration lies (interval 60 s, timeout 300 s, grace 30 s).
INTERVAL = 60_000


@pytest.mark.parametrize(
    ("close", "bounds"),
    [
        # an end reported by the client is exact
        (lambda s: lc.end(s, 100_000, 100_000), (100_000, 100_000)),
        (lambda s: lc.end(s, 100_000, 100_000, EndReason.ADMIN), (100_000, 100_000)),
        # timed out: from the last heartbeat (40 s) to when the next was due (100 s)
        (lambda s: lc.sweep(s, 10**9), (40_000, 100_000)),
        # lost presence: between the snapshot that still had it and the one that missed it
        (lambda s: lc.end(s, 100_000, 100_000, EndReason.PRESENCE_LOST), (40_000, 100_000)),
    ],
)
def test_duration_bounds(close, bounds: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    seen = lc.heartbeat(fresh(), 40_000, 40_000)
    assert lc.duration_bounds(close(seen), INTERVAL) == bounds
    assert lc.duration_bounds(seen, INTERVAL) is None  # still open: no duration yet


def test_the_true_end_of_a_crash_lies_inside_its_bounds_wherever_it_happened() -> None:
    """A client beating every interval that dies at any moment before its next beat: the
    estimated end and the true one both lie inside the bounds."""
    for died_after in range(0, INTERVAL, 5_000):
        last_beat = 120_000
        closed = lc.sweep(lc.heartbeat(fresh(), last_beat, last_beat), 10**9)
        low, high = lc.duration_bounds(closed, INTERVAL) or (0, 0)
        assert low <= last_beat + died_after <= high
        assert closed.ended_at is not None and low <= closed.ended_at <= high


def test_an_estimate_credited_by_a_grace_beyond_the_interval_stays_inside_its_bounds() -> None:
    # A session stored under a policy from before grace was bounded by the interval.
    closed = lc.sweep(lc.start(0, timeout_ms=5_000, grace_ms=3_000), 10**9)
    assert closed.ended_at == 3_000
    assert lc.duration_bounds(closed, 1_000) == (0, 3_000)


def test_bounds_never_pass_the_moment_the_session_was_declared_gone() -> None:
    # An interval longer than the timeout (a policy changed meanwhile): capped at expiry.
    closed = lc.sweep(lc.start(0, timeout_ms=30_000, grace_ms=5_000), 10**9)
    assert lc.duration_bounds(closed, 60_000) == (0, 30_000)


def test_beats_made_during_an_outage_never_take_back_the_deadline_held_after_it() -> None:
    # Seen at 100 s; the service was down from 150 s to 1,000 s and held the session until a
    # full timeout after it came back. The client's beats of 200 s and 380 s, kept through
    # the outage and delivered at 1,010 s, move last_seen_at but not the deadline back.
    held = replace(lc.heartbeat(fresh(), 100_000, 100_000), expires_at=1_300_000)
    held = replace(held, held_until=1_300_000)
    after, counted = lc.heartbeats(held, [200_000, 380_000], 1_010_000)
    assert counted == [True, True]
    assert (after.status, after.last_seen_at, after.expires_at) == (
        Status.ACTIVE,
        380_000,
        1_300_000,
    )
    assert after.amended_count == 0
    # A beat made after the service came back extends from itself as ever.
    later = lc.heartbeat(after, 1_200_000, 1_200_000)
    assert later.expires_at == 1_500_000
