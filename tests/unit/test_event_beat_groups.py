"""How a batch of events' beats is split into statements: each session's beats stay in time
order, and a time many sessions share becomes one statement."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sessionkeeper.events.rules import SHARED_TIME_MIN, beat_groups


def test_a_time_shared_by_many_sessions_is_one_group() -> None:
    beats = [(f"s{i}", 1000) for i in range(SHARED_TIME_MIN)]
    assert beat_groups(beats) == [(1000, sorted(beats))]


def test_rare_times_stay_single_beats_in_time_order() -> None:
    beats = [("a", 30), ("b", 10), ("a", 20)]
    assert beat_groups(beats) == [(None, [("b", 10), ("a", 20), ("a", 30)])]


def test_runs_of_rare_times_around_a_shared_one_keep_their_places() -> None:
    shared = [(f"s{i}", 50) for i in range(SHARED_TIME_MIN)]
    beats = [("a", 60), *shared, ("a", 40), ("b", 70)]
    assert beat_groups(beats) == [
        (None, [("a", 40)]),
        (50, sorted(shared)),
        (None, [("a", 60), ("b", 70)]),
    ]


def test_a_repeated_beat_is_applied_once() -> None:
    assert beat_groups([("a", 5), ("a", 5)]) == [(None, [("a", 5)])]


@given(st.lists(st.tuples(st.sampled_from("abcdefghij"), st.integers(0, 5)), max_size=80))
def test_every_beat_is_applied_once_and_each_session_in_time_order(
    beats: list[tuple[str, int]],
) -> None:
    applied = [beat for _, group in beat_groups(beats) for beat in group]
    assert sorted(applied) == sorted(set(beats))
    for session in {sid for sid, _ in beats}:
        times = [at for sid, at in applied if sid == session]
        assert times == sorted(times)
    for at, group in beat_groups(beats):
        if at is not None:
            assert len(group) >= SHARED_TIME_MIN
            assert all(t == at for _, t in group)
