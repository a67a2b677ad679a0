from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sessionkeeper.domain.ids import is_valid_session_id, time_ordered_id
from sessionkeeper.domain.session import start_digest
from sessionkeeper.domain.times import from_ms, to_ms


def test_ids_sort_by_time_and_are_valid_session_ids() -> None:
    early = time_ordered_id(1_000, bytes(10))
    late = time_ordered_id(2_000, bytes(10))
    assert early < late
    assert len(early) == 26 and is_valid_session_id(early)


def test_ids_differ_by_randomness_within_a_millisecond() -> None:
    assert time_ordered_id(5, bytes(10)) != time_ordered_id(5, b"\x01" * 10)


def test_ids_need_ten_random_bytes() -> None:
    with pytest.raises(ValueError):
        time_ordered_id(5, b"short")


@pytest.mark.parametrize("value", ["a", "game-42", "x" * 64, "a.b:c_d-e"])
def test_valid_ids(value: str) -> None:
    assert is_valid_session_id(value)


@pytest.mark.parametrize("value", ["", "x" * 65, "has space", "slash/no", "ünï"])
def test_invalid_ids(value: str) -> None:
    assert not is_valid_session_id(value)


def test_times_round_trip_in_utc() -> None:
    local = datetime(2026, 1, 5, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    assert from_ms(to_ms(local)) == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_start_digest_is_order_independent_and_value_sensitive() -> None:
    a = start_digest({"user_id": "u", "attributes": {"x": 1, "y": 2}})
    b = start_digest({"attributes": {"y": 2, "x": 1}, "user_id": "u"})
    c = start_digest({"user_id": "u", "attributes": {"x": 1, "y": 3}})
    assert a == b != c
