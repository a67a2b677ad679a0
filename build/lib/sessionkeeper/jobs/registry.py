"""The explicit list of periodic jobs: the kernel's, then each feature's."""

from __future__ import annotations

from sessionkeeper.jobs.job import Job
from sessionkeeper.services.container import Services


def periodic_jobs(services: Services) -> list[Job]:
    settings = services.runtime.settings
    jobs = [Job("sweep", settings.sweep_interval_s, services.sweeper.run)]
    for feature in services.features:
        jobs.extend(feature.jobs(services.feature(feature.name)))
    return jobs
