"""``sessionkeeper rollup``: refresh the changed days now, or rebuild from the raw tables."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sessionkeeper.config import Settings
from sessionkeeper.rollups.service import RefreshResult, RollupService
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime

app = typer.Typer(help="Daily rollups: refresh or rebuild.")
out = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=out,
        transient=False,
    )


@app.callback(invoke_without_command=True)
def rollup(
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Recompute every day from the raw tables")
    ] = False,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant (default: all)")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="With --rebuild: from this day (YYYY-MM-DD)"),
    ] = None,
) -> None:
    """Recompute the days marked as changed now; with --rebuild, every day (of --tenant,
    from --since). An interrupted rebuild resumes where it stopped when run again."""
    runtime = Runtime.open(Settings())
    try:
        runtime.db.migrate()
        services = Services.build(runtime)
        rollups = RollupService(runtime)
        names = [tenant] if tenant else [t.name for t in services.tenants.list_tenants()]
        first_day: date | None = None if since is None else since.date()
        if rebuild:
            for name in names:
                _rebuild(rollups, services, name, first_day)
        else:
            tenant_id = services.tenants.tenant(tenant).id if tenant else None
            result = _refresh(rollups, tenant_id)
            out.print(f"refreshed {result.refreshed} day-parts in {len(result.chunks)} chunks")
    finally:
        runtime.close()


def _refresh(rollups: RollupService, tenant_id: int | None) -> RefreshResult:
    with _progress() as progress:
        task = progress.add_task("refresh", total=asyncio.run(rollups.pending(tenant_id)))
        return asyncio.run(rollups.refresh(tenant_id, progress=lambda n: progress.advance(task, n)))


def _rebuild(rollups: RollupService, services: Services, name: str, since: date | None) -> None:
    principal = services.tenants.operator(name)
    with _progress() as progress:
        task = progress.add_task(f"rebuild {name}", total=None)

        def started(total: int, resumed: bool) -> None:
            what = f"resume rebuild {name}" if resumed else f"rebuild {name}"
            progress.update(task, total=total, description=what)

        result = asyncio.run(
            rollups.rebuild(
                principal,
                since=since,
                on_start=started,
                progress=lambda n: progress.advance(task, n),
            )
        )
    out.print(f"tenant '{name}': rebuilt {result.refreshed} day-parts")
