"""Runs the periodic jobs as asyncio tasks: each at once on start, then on a fixed cadence
(``jobs/cadence.py``).

Running at once on start is what closes, at their estimated ends, the sessions that expired
while the server was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sessionkeeper.jobs.cadence import next_start
from sessionkeeper.jobs.job import Job
from sessionkeeper.logs import fact, startup_log
from sessionkeeper.storage.job_locks import JobLocks

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(self, jobs: list[Job], locks: JobLocks | None = None) -> None:
        self.jobs = jobs
        self.locks = locks
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for job in self.jobs:
            fact(
                startup_log,
                f"job {job.name} every {job.interval_s:g} s",
                job=job.name,
                interval_s=job.interval_s,
            )
        self._tasks = [asyncio.create_task(self._loop(job), name=job.name) for job in self.jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _loop(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                await self._run_once(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The failure is recorded by the job and shown by health; keep running.
                log.exception("job %s failed", job.name)
            due = next_start(due, loop.time(), job.interval_s)
            await asyncio.sleep(due - loop.time())

    async def _run_once(self, job: Job) -> None:
        if not job.exclusive or self.locks is None:
            await job.run()
            return
        locks = self.locks
        with contextlib.ExitStack() as stack:
            acquired = await asyncio.to_thread(stack.enter_context, locks.hold(job.name))
            if acquired:
                await job.run()
            else:
                log.debug("job %s runs in another process this round", job.name)
