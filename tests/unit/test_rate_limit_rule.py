"""The token bucket of per-key rate limits: pure, table-driven."""

from __future__ import annotations

import pytest

from sessionkeeper.domain.rate_limit import Bucket, Limit, take

LIMIT = Limit(rate=2.0, burst=3.0)


def run(times_ms: list[int], limit: Limit = LIMIT) -> list[float]:
    bucket: Bucket | None = None
    waits = []
    for now in times_ms:
        bucket, wait = take(bucket, now, limit)
        waits.append(wait)
    return waits


def test_a_new_key_may_send_its_burst_at_once_then_waits_for_the_next_token() -> None:
    assert run([0, 0, 0, 0]) == [0, 0, 0, 0.5]


def test_a_refused_request_takes_nothing() -> None:
    # Refused at 0 and again at 250 ms: the token due at 500 ms is still due then.
    assert run([0, 0, 0, 0, 250, 500]) == [0, 0, 0, 0.5, 0.25, 0]


@pytest.mark.parametrize(
    ("times_ms", "expected"),
    [
        ([0, 0, 0, 500, 500], [0, 0, 0, 0, 0.5]),  # half a second refills one token
        ([0, 0, 0, 60_000, 60_000, 60_000, 60_000], [0, 0, 0, 0, 0, 0, 0.5]),  # never > burst
    ],
)
def test_tokens_come_back_at_the_rate_up_to_the_burst(
    times_ms: list[int], expected: list[float]
) -> None:
    assert run(times_ms) == expected


def test_a_clock_behind_the_buckets_time_refills_nothing() -> None:
    # Another host, 1 s behind, takes from the same bucket: no token appears from that.
    assert run([1_000, 1_000, 1_000, 0, 0]) == [0, 0, 0, 0.5, 0.5]
