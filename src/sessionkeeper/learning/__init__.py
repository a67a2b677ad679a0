"""Learning: session outcomes (metrics, counters, tags), end-user access with JWTs
(``/v1/me``), a user's statistics, streaks and recap, and erasure and export of a user's
data. See ``docs/outcomes-and-users.md``."""

from __future__ import annotations

from sessionkeeper.feature import Feature
from sessionkeeper.jobs.job import Job
from sessionkeeper.learning.me_routes import router as me_router
from sessionkeeper.learning.routes import router
from sessionkeeper.learning.service import Learning
from sessionkeeper.learning.session_fields import OUTCOME_FIELD

# Keys rotate: a JWKS given by URL is fetched again this often.
JWKS_REFRESH_S = 3600.0


def _jobs(learning: Learning) -> list[Job]:
    return [Job("learning.jwks_refresh", JWKS_REFRESH_S, learning.refresh_jwks, exclusive=True)]


FEATURE: Feature[Learning] = Feature(
    name="learning",
    build=Learning,
    routers=[router],
    ingest_routers=[me_router],
    jobs=_jobs,
    session_fields=[OUTCOME_FIELD],
)
