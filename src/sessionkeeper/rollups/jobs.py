"""The periodic jobs of rollups: the refresh of dirty days, and event retention when set."""

from __future__ import annotations

from collections.abc import Sequence

from sessionkeeper.jobs.job import Job
from sessionkeeper.rollups import retention
from sessionkeeper.rollups.bundle import Rollups
from sessionkeeper.rollups.service import JOB_NAME


def periodic(rollups: Rollups) -> Sequence[Job]:
    settings = rollups.refresher.rt.settings
    jobs = [Job(JOB_NAME, settings.rollup_interval_s, rollups.refresher.refresh)]
    if settings.event_retention_days is not None:
        jobs.append(Job(retention.JOB_NAME, retention.INTERVAL_S, rollups.retention.run))
    return jobs
