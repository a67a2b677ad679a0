"""When tenants may see a run of a server job.

A server job (the sweep, the rooms' cleanup) works through every tenant's data, so how long
a run takes, and so when it ended, tells one tenant about the others (the sweep takes longer
the more sessions anyone left overdue). Its record is written when it ends: a tenant's view
that changed at that moment would time the run to the millisecond, however little of the
record it showed. So a tenant is shown a run only from a point that does not depend on its
length within a step: the first point of the grid ``start + k * step`` (k ≥ 1) by which it
had finished. Until then the tenant sees the run before. Runs start on a fixed cadence
(``jobs/cadence.py``), so their starts tell nothing either.
"""

from __future__ import annotations

import math

# The step of that grid, at most: short enough that tenants see a run soon after it, long
# enough that a sweep or cleanup rarely takes more than one (and then only the number of
# steps it took is told).
SHOWN_STEP_MS = 15_000


def shown_from(started_at: int, finished_at: int, interval_ms: int) -> int:
    """When tenants may see a server job's run from ``started_at`` to ``finished_at``, the
    job running every ``interval_ms``: the step is that interval, up to
    :data:`SHOWN_STEP_MS`."""
    step = max(1, min(interval_ms, SHOWN_STEP_MS))
    steps = max(1, math.ceil((finished_at - started_at) / step))
    return started_at + steps * step
