"""Periodic jobs start on a fixed grid, so their starts do not reveal their lengths."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import given
from hypothesis import strategies as st

from sessionkeeper.jobs.cadence import next_start
from sessionkeeper.jobs.job import Job
from sessionkeeper.jobs.runner import JobRunner


def test_a_run_within_its_slot_is_followed_one_interval_after_it_was_due() -> None:
    assert next_start(100.0, 100.3, 1.0) == 101.0


def test_a_run_that_overran_is_followed_at_the_next_slot_of_the_grid() -> None:
    assert next_start(100.0, 102.5, 1.0) == 103.0


@given(
    due=st.floats(0, 1e6),
    took=st.floats(0, 1e4),
    interval=st.floats(0.01, 1e3),
)
def test_the_next_start_is_after_now_and_on_the_grid(
    due: float, took: float, interval: float
) -> None:
    now = due + took
    start = next_start(due, now, interval)
    eps = 1e-9 * max(1.0, now)
    slots = (start - due) / interval
    assert round(slots) >= 1 and abs(slots - round(slots)) < 1e-6 * max(1.0, slots)
    assert now - eps < start <= now + interval + eps


async def test_the_runner_starts_a_slow_job_an_interval_apart_not_after_it_finished() -> None:
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def slow() -> None:
        starts.append(loop.time())
        await asyncio.sleep(0.25)

    runner = JobRunner([Job("slow", 0.5, slow)])
    runner.start()
    try:
        while len(starts) < 5:
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    gaps = sorted(b - a for a, b in itertools.pairwise(starts))
    # An interval after each finish the gaps would be 0.75 s.
    assert gaps[len(gaps) // 2] < 0.65, gaps
