"""SQL for the record of periodic job runs (shared by every server process)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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

    @property
    def server_job(self) -> bool:
        """A run of the server's own job, over every tenant (not one a tenant asked for)."""
        return TENANT_SEPARATOR not in self.name

    def seen_by(self, principal: Principal) -> JobRun:
        """The run as the principal may see it. A server job's length, and so when it ended,
        grows with every tenant's data (the sweep takes longer the more sessions anyone
        left overdue): a tenant sees such a run as of its start, its length unknown. The
        runner starts them on a fixed cadence, so the starts reveal no length either."""
        if principal.server_wide or not self.server_job:
            return self
        return replace(
            self,
            finished_at=self.started_at,
            duration_ms=None,
            last_success_at=self.last_success_started_at,
        )

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
) -> None:
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
        # JSON object keys are strings.
        "result_by_tenant": {str(k): v for k, v in (result_by_tenant or {}).items() if v},
    }
    conn.execute(upsert(conn, t, values, keys=["name"]))


def get(conn: Connection, name: str) -> JobRun | None:
    row = conn.execute(sa.select(t).where(t.c.name == name)).first()
    return None if row is None else _run(row)


def all_runs(conn: Connection) -> list[JobRun]:
    """The last run of every job that has run, by name."""
    return [_run(row) for row in conn.execute(sa.select(t).order_by(t.c.name))]


def seen_by(principal: Principal, runs: list[JobRun]) -> list[JobRun]:
    """The runs the principal may see: the server's own jobs and the runs its tenant asked
    for, never another tenant's (when it ran is its business); every run for the operator
    acting server-wide."""
    if principal.server_wide:
        return runs
    own = str(principal.tenant_id)
    return [
        run.seen_by(principal)
        for run in runs
        if run.name.partition(TENANT_SEPARATOR)[2] in ("", own)
    ]


def _run(row: sa.Row[tuple[object, ...]]) -> JobRun:
    return JobRun(
        name=row.name,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_ms=row.duration_ms,
        result=row.result,
        error=row.error,
        last_success_at=row.last_success_at,
        result_by_tenant={int(k): int(v) for k, v in (row.result_by_tenant or {}).items()},
        last_success_started_at=row.last_success_started_at,
    )
