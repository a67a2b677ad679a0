"""SQL for the record of periodic job runs (shared by every server process)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.public_ids import IdPermutation
from sessionkeeper.storage.dialect import upsert
from sessionkeeper.storage.tables import job_runs as t

# A run one tenant asked for is recorded as ``<job>@<tenant id>``: that tenant's alone.
TENANT_SEPARATOR = "@"


def tenant_job_name(name: str, tenant_id: int) -> str:
    """The record of the runs of job ``name`` that one tenant asked for."""
    return f"{name}{TENANT_SEPARATOR}{tenant_id}"


def is_server_job(name: str) -> bool:
    """Whether ``name`` records the server's own job, over every tenant (not a run one
    tenant asked for)."""
    return TENANT_SEPARATOR not in name


def shown_name(name: str, tenants: IdPermutation) -> str:
    """A job's name as clients see it: a tenant's run by the tenant's public id, as
    ``/v1/tenants`` shows it (the stored row id counts the tenants made before)."""
    job, separator, tenant_id = name.partition(TENANT_SEPARATOR)
    if not (separator and tenant_id.isascii() and tenant_id.isdigit()):
        return name
    return tenant_job_name(job, tenants.public(int(tenant_id)))


@dataclass(frozen=True, slots=True)
class JobRun:
    name: str
    started_at: int
    finished_at: int
    # None where the caller may not know it (see ``seen_by``).
    duration_ms: int | None
    result: int
    error: str | None
    last_success_at: int | None
    # The part of ``result`` per tenant id; tenants with nothing are absent.
    result_by_tenant: dict[int, int] = field(default_factory=dict)
    # When the last successful run started (its end is ``last_success_at``).
    last_success_started_at: int | None = None
    # A server job's run: when tenants may see it (``domain/job_runs.py``), and the run
    # they see until then. None: seen at once.
    shown_from: int | None = None
    shown_before: JobRun | None = None

    @property
    def server_job(self) -> bool:
        return is_server_job(self.name)

    def seen_by(self, principal: Principal, now: int) -> JobRun | None:
        """The run as the principal may see it at ``now``; None when it may see none yet.

        A server job's length, and so when it ended, grows with every tenant's data: a
        tenant sees such a run only from ``shown_from`` (a point its end does not decide,
        ``domain/job_runs.py``; the run before until then), and as of its start, its length
        unknown. The runner starts them on a fixed cadence, so the starts reveal no length
        either."""
        if principal.server_wide or not self.server_job:
            return self
        run = self.shown_at(now)
        if run is None:
            return None
        return replace(
            run,
            finished_at=run.started_at,
            duration_ms=None,
            last_success_at=run.last_success_started_at,
            shown_from=None,
            shown_before=None,
        )

    def shown_at(self, now: int) -> JobRun | None:
        """The run tenants are shown at ``now``: this one, or the one before it."""
        return self if self.shown_from is None or self.shown_from <= now else self.shown_before

    def result_for(self, principal: Principal) -> int:
        """The result as the principal may see it: its tenant's part, or all of it for the
        server-wide operator."""
        return self.result if principal.server_wide else principal.part_of(self.result_by_tenant)


def record(
    conn: Connection,
    name: str,
    *,
    started_at: int,
    finished_at: int,
    result: int,
    error: str | None,
    result_by_tenant: dict[int, int] | None = None,
    shown_from: int | None = None,
) -> JobRun | None:
    """Record a run, replacing the record of the one before. ``shown_from``: when tenants
    may see it (``domain/job_runs.shown_from``), for a server job's run; the run they see
    until then is kept with it, and returned. A tenant's own runs are shown to it at once."""
    if not is_server_job(name):
        shown_from = None
    previous = get(conn, name)
    last_success: int | None
    last_success_started: int | None
    if error is None:
        last_success, last_success_started = finished_at, started_at
    elif previous is not None:
        last_success = previous.last_success_at
        last_success_started = previous.last_success_started_at
    else:
        last_success = last_success_started = None
    values = {
        "name": name,
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_ms": finished_at - started_at,
        "result": result,
        "error": error,
        "last_success_at": last_success,
        "last_success_started_at": last_success_started,
        "result_by_tenant": _by_tenant(result_by_tenant or {}),
        "shown_from": shown_from,
        "shown_before": None,
    }
    before = None
    if shown_from is not None and previous is not None:
        before = previous.shown_at(finished_at)
        values["shown_before"] = None if before is None else _shown_before(before)
    conn.execute(upsert(conn, t, values, keys=["name"]))
    return before


def _by_tenant(result_by_tenant: dict[int, int]) -> dict[str, int]:
    # JSON object keys are strings.
    return {str(k): v for k, v in result_by_tenant.items() if v}


def _shown_before(run: JobRun) -> dict[str, Any]:
    """What is kept of the run tenants see until the next is shown: all of it but the run
    before it."""
    return {
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": run.duration_ms,
        "result": run.result,
        "error": run.error,
        "last_success_at": run.last_success_at,
        "last_success_started_at": run.last_success_started_at,
        "result_by_tenant": _by_tenant(run.result_by_tenant),
    }


def get(conn: Connection, name: str) -> JobRun | None:
    row = conn.execute(sa.select(t).where(t.c.name == name)).first()
    return None if row is None else _run(row)


def all_runs(conn: Connection) -> list[JobRun]:
    """The last run of every job that has run, by name."""
    return [_run(row) for row in conn.execute(sa.select(t).order_by(t.c.name))]


def seen_by(principal: Principal, runs: list[JobRun], now: int) -> list[JobRun]:
    """The runs the principal may see at ``now``: the server's own jobs (as
    :meth:`JobRun.seen_by` shows them) and the runs its tenant asked for, never another
    tenant's (when it ran is its business); every run for the operator acting server-wide."""
    if principal.server_wide:
        return runs
    own = str(principal.tenant_id)
    seen = [
        run.seen_by(principal, now)
        for run in runs
        if run.name.partition(TENANT_SEPARATOR)[2] in ("", own)
    ]
    return [run for run in seen if run is not None]


def _run(row: sa.Row[tuple[object, ...]]) -> JobRun:
    before = row.shown_before
    return replace(
        _of(row.name, dict(row._mapping)),
        shown_from=row.shown_from,
        shown_before=None if before is None else _of(row.name, before),
    )


def _of(name: str, values: Mapping[str, Any]) -> JobRun:
    """A run of ``name`` from its stored values: a row, or the run kept in ``shown_before``
    (the same names)."""
    return JobRun(
        name=name,
        started_at=values["started_at"],
        finished_at=values["finished_at"],
        duration_ms=values["duration_ms"],
        result=values["result"],
        error=values["error"],
        last_success_at=values["last_success_at"],
        result_by_tenant=_tenant_ids(values["result_by_tenant"]),
        last_success_started_at=values["last_success_started_at"],
    )


def _tenant_ids(stored: dict[str, Any] | None) -> dict[int, int]:
    return {int(k): int(v) for k, v in (stored or {}).items()}
