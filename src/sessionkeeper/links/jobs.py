"""The links job: ending the sessions of companion pages that were closed, not reloaded."""

from __future__ import annotations

from collections.abc import Sequence

from sessionkeeper.jobs.job import Job
from sessionkeeper.links.container import LinkServices
from sessionkeeper.links.tracker_service import CLOSE_INTERVAL_S


def jobs(built: LinkServices) -> Sequence[Job]:
    return (Job("links.close_companions", CLOSE_INTERVAL_S, built.tracker.close_due),)
