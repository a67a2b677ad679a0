"""The periodic jobs of rooms: the cleanup, every ``SESSIONKEEPER_CLEANUP_INTERVAL_S``."""

from __future__ import annotations

from sessionkeeper.jobs.job import Job
from sessionkeeper.rooms.cleanup import JOB_NAME
from sessionkeeper.rooms.service import Rooms


def room_jobs(rooms: Rooms) -> list[Job]:
    return [Job(JOB_NAME, rooms.runtime.settings.cleanup_interval_s, rooms.cleaner.run)]
