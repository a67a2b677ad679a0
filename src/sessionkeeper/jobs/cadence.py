"""When a periodic job runs next: on a fixed cadence, not an interval after the last run.

Runs that start an interval after the previous one *finished* start later the longer the
runs take, so their start times would reveal their lengths; a server job's length grows with
every tenant's data, and tenants are shown server jobs as of their starts only
(``storage/jobs.JobRun.seen_by``, ``domain/job_runs.py``). A run that overran its slot is
followed at the next slot, not at once: starts stay on the grid.
"""

from __future__ import annotations

import math


def next_start(due: float, now: float, interval: float) -> float:
    """The first slot after ``now`` on the grid ``due + k * interval`` (k ≥ 1), where
    ``due`` is when the last run was due (all three in one unit)."""
    if interval <= 0:
        return now
    slots = max(1, math.floor((now - due) / interval) + 1)
    return due + slots * interval
