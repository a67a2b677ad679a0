"""Scaling benchmarks: the same work timed on a large and on a small database, in turn, so
that the ratio of the two says how its cost grows with what it does not touch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from bench.config import RunConfig
from bench.databases import database, postgres_available
from bench.report import Case, Outcome


class Scaled(Protocol):
    """A populated database and the work to time on it."""

    def once(self) -> None:
        """Time the work once (and put the database back as it was before, untimed)."""
        ...

    def close(self) -> None: ...

    def summary(self) -> dict[str, Any]: ...


def measure(
    backend: str,
    large: int,
    small: int,
    repetitions: int,
    make: Callable[[str, int], Scaled],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``make`` a large and a small database of ``backend`` and time the work on each in
    turn, ``repetitions`` times; returns their summaries (large, small)."""
    with database(backend) as big_url, database(backend) as small_url:
        big = make(big_url, large)
        try:
            base = make(small_url, small)
            try:
                for _ in range(repetitions):
                    big.once()
                    base.once()
            finally:
                base.close()
        finally:
            big.close()
    return big.summary(), base.summary()


def run(
    config: RunConfig,
    name: str,
    make: Callable[[str, int], Scaled],
    case: Callable[[str, dict[str, Any], dict[str, Any]], Case],
    **settings: Any,
) -> Outcome:
    """The work on 1,000,000 against 100,000 rows (200,000 against 20,000 when quick), on
    each backend; ``case`` turns the two summaries of a backend into its row."""
    large = config.size(1_000_000, 200_000)
    small = config.size(100_000, 20_000)
    repetitions = config.size(5, 2)
    outcome = Outcome(
        name,
        settings={
            "large": large,
            "small": small,
            "repetitions": repetitions,
            "sqlite_synchronous": "FULL",
            **settings,
        },
    )
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        big, base = measure(backend, large, small, repetitions, make)
        outcome.cases.append(case(backend, big, base))
    return outcome


def label(backend: str) -> str:
    return "SQLite" if backend == "sqlite" else "PostgreSQL"
