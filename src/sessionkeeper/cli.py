"""The ``sessionkeeper`` command: serve, migrate, tenants, keys, sweep, sessions."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sessionkeeper.assembly import FEATURES, build_services
from sessionkeeper.config import Settings
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.listing import SessionFilter
from sessionkeeper.domain.principal import Scope
from sessionkeeper.domain.times import from_ms
from sessionkeeper.errors import SessionkeeperError
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime

app = typer.Typer(help="sessionkeeper: durable session tracking.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants: one application or workspace each.", no_args_is_help=True)
key_app = typer.Typer(help="API keys of a tenant.", no_args_is_help=True)
sessions_app = typer.Typer(help="Sessions of a tenant.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(key_app, name="key")
app.add_typer(sessions_app, name="sessions")
for _feature in FEATURES:
    for _name, _commands in _feature.commands:
        app.add_typer(_commands, name=_name)

out = Console()
err = Console(stderr=True)


def _services() -> Services:
    runtime = Runtime.open(Settings())
    runtime.db.migrate()
    return build_services(runtime)


def _fmt(ms: int | None) -> str:
    return "" if ms is None else from_ms(ms).isoformat(timespec="seconds")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Server processes; more than one scales with PostgreSQL, not SQLite"
        ),
    ] = 1,
) -> None:
    """Apply migrations and serve the HTTP API (the sweep runs inside)."""
    import uvicorn

    from sessionkeeper.assembly import create_app

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    runtime = Runtime.open(settings)
    runtime.db.migrate()
    services = build_services(runtime)
    key = services.tenants.bootstrap()
    if key is not None:
        _print_first_start(key, host, port)
    if workers == 1:
        uvicorn.run(
            create_app(runtime, migrate=False), host=host, port=port, log_level=settings.log_level
        )
        return
    runtime.close()  # each worker opens its own database handle
    uvicorn.run(
        "sessionkeeper.assembly:app_from_settings",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=settings.log_level,
    )


def _print_first_start(key: str, host: str, port: int) -> None:
    out.print("[bold]Created tenant 'default' and its admin API key (shown only now):[/bold]")
    print(key, flush=True)
    out.print("Start a session:")
    print(
        f"curl -s -X POST http://{host}:{port}/v1/sessions "
        f"-H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
        """-d '{"user_id": "alice", "kind": "game", "label": "chess"}'""",
        flush=True,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    Runtime.open(Settings()).db.migrate()
    out.print("database is up to date")


@app.command()
def sweep() -> None:
    """Close every overdue session now."""
    services = _services()
    result = asyncio.run(services.sweeper.run())
    services.runtime.close()
    out.print(f"closed {result.closed} overdue sessions")


@tenant_app.command("create")
def tenant_create(name: str) -> None:
    """Create a tenant."""
    tenant = _services().tenants.create_tenant(name)
    out.print(f"created tenant '{tenant.name}' (id {tenant.id})")


@tenant_app.command("list")
def tenant_list() -> None:
    """List tenants."""
    table = Table("id", "name", "created_at")
    for tenant in _services().tenants.list_tenants():
        table.add_row(str(tenant.id), tenant.name, _fmt(tenant.created_at))
    out.print(table)


@key_app.command("create")
def key_create(
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    scope: Annotated[Scope, typer.Option(help="ingest, read or admin")] = Scope.INGEST,
) -> None:
    """Create an API key. The key is printed once, alone on the last line."""
    key_id, secret = _services().tenants.create_key(tenant, scope)
    err.print(f"created {scope.value} key {key_id} for tenant '{tenant}'; it is shown only now:")
    print(secret, flush=True)


@key_app.command("list")
def key_list(tenant: Annotated[str | None, typer.Option(help="Only this tenant")] = None) -> None:
    """List API keys (their prefixes; the keys themselves are not stored)."""
    table = Table("id", "tenant", "prefix", "scope", "created_at", "revoked_at")
    for key in _services().tenants.list_keys(tenant):
        table.add_row(
            str(key.id),
            key.tenant_name,
            key.prefix + "…",
            key.scope,
            _fmt(key.created_at),
            _fmt(key.revoked_at),
        )
    out.print(table)


@key_app.command("revoke")
def key_revoke(key_id: int) -> None:
    """Revoke an API key by id (see ``key list``)."""
    _services().tenants.revoke_key(key_id)
    out.print(f"revoked key {key_id}")


WHERE_HELP = (
    "A filter as the API takes it, NAME=VALUE (repeatable): e.g. subject.teacher_id=t1, "
    "ended_after=2026-11-01T00:00:00Z, active_during=<from>/<to>, min_duration_s=60"
)


def _filter(where: list[str], **options: object) -> SessionFilter:
    """The listing filter of the named options and ``--where`` pairs, by the API's parser."""
    pairs = [(name, _text(value)) for name, value in options.items() if value is not None]
    for item in where:
        name, equals, value = item.partition("=")
        if not equals:
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--where")
        pairs.append((name, value))
    return SessionFilter.parse(pairs, assume_utc=True)


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


@sessions_app.command("list")
def sessions_list(
    tenant: Annotated[str, typer.Option(help="Tenant name")] = "default",
    status: Annotated[Status | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option()] = None,
    user_id: Annotated[str | None, typer.Option()] = None,
    label: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option()] = None,
    started_after: Annotated[
        datetime | None, typer.Option(help="ISO 8601, UTC if no offset")
    ] = None,
    started_before: Annotated[
        datetime | None, typer.Option(help="ISO 8601, UTC if no offset")
    ] = None,
    where: Annotated[list[str] | None, typer.Option(help=WHERE_HELP)] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List sessions, newest first, as a table."""
    services = _services()
    filters = _filter(
        where or [],
        status=status.value if status else None,
        kind=kind,
        user_id=user_id,
        label=label,
        source=source,
        started_after=started_after,
        started_before=started_before,
    )
    principal = services.tenants.operator(tenant)
    page, _ = asyncio.run(services.sessions.list(principal, filters, limit=limit, after=None))
    table = Table(
        "id", "user_id", "kind", "label", "status", "started_at", "ended_at", "duration_s"
    )
    for s in page:
        duration = "" if s.duration_ms is None else f"{s.duration_ms / 1000:.1f}"
        estimated = "~" if s.estimated else ""
        table.add_row(
            s.id,
            s.user_id,
            s.kind,
            s.label or "",
            s.status.value,
            _fmt(s.started_at),
            _fmt(s.ended_at),
            estimated + duration,
        )
    out.print(table)


@sessions_app.command("export")
def sessions_export(
    tenant: Annotated[str, typer.Option(help="Tenant name")] = "default",
    where: Annotated[list[str] | None, typer.Option(help=WHERE_HELP)] = None,
    out: Annotated[
        typer.FileTextWrite, typer.Option(help="CSV file to write (default: stdout)")
    ] = sys.stdout,  # type: ignore[assignment]
) -> None:
    """Write every matching session as CSV, oldest first (as GET /v1/sessions/export.csv)."""
    services = _services()
    principal = services.tenants.operator(tenant)

    async def write() -> None:
        chunks = await services.reports.export_csv(principal, _filter(where or []))
        async for chunk in chunks:
            out.write(chunk)

    asyncio.run(write())
    out.flush()


def main() -> None:
    try:
        app()
    except SessionkeeperError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        sys.exit(2)
