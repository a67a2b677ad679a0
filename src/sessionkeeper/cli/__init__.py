"""The sessionkeeper command: serve, migrate, backup, sweep, tenants, keys, sessions.

Every command works on the database named by SESSIONKEEPER_DATABASE_URL, like the server.
A setting that cannot be used, or a refused command, prints one line on stderr and exits 2.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError
from uvicorn.supervisors import Multiprocess

from sessionkeeper import __version__, logs
from sessionkeeper.assembly import FEATURES, build_services, create_app
from sessionkeeper.cli import admin, sessions
from sessionkeeper.cli.server import CannotListen, Listener, allow_open_files, bind, protocol_for
from sessionkeeper.config import MAX_PORT, Settings, describe_errors, listen_address
from sessionkeeper.errors import InvalidInput, SessionkeeperError
from sessionkeeper.logs import fact, startup_log
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage.backup import BackupRefused, backup_sqlite

app = typer.Typer(
    help="sessionkeeper: durable session tracking.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
app.add_typer(admin.tenant_app, name="tenant")
app.add_typer(admin.key_app, name="key")
app.add_typer(sessions.sessions_app, name="sessions")
for _feature in FEATURES:
    for _name, _commands in _feature.commands:
        app.add_typer(_commands, name=_name)


def _version(show: bool) -> None:
    if show:
        print(f"sessionkeeper {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """sessionkeeper: durable session tracking."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on, up to 65535 (0: any free port).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Server processes; more than one scales with PostgreSQL, not SQLite."
        ),
    ] = 1,
) -> None:
    """Apply migrations and serve the HTTP API (the sweep runs inside).

    On first start with an empty database it creates the tenant 'default' and prints its
    admin API key once, after the port is bound.
    """
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    listeners = [bind(host or settings.host, settings.port if port is None else _port(port))]
    if settings.metrics_listen:
        listeners.append(bind(*listen_address(settings.metrics_listen)))
    allow_open_files(settings.max_connections)
    runtime = Runtime.open(settings)
    try:
        fact(startup_log, f"sessionkeeper {__version__} starting", version=__version__)
        fact(
            startup_log,
            f"database: {runtime.db.dialect} at {runtime.db.describe()}",
            kind=runtime.db.dialect,
            location=runtime.db.describe(),
        )
        runtime.db.migrate()
        services = build_services(runtime)
        key = services.tenants.bootstrap()
        if key is not None:
            _print_first_start(key, listeners[0])
        for listener, role in zip(listeners, ("api", "metrics"), strict=False):
            fact(startup_log, f"listening on {listener.url} ({role})", url=listener.url, role=role)
        options: dict[str, Any] = dict(
            log_config=None,
            log_level=logs.level_number(settings.log_level),
            access_log=False,  # the app logs each request itself, with its request id
            root_path=settings.root_path,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            timeout_keep_alive=int(max(1, settings.keepalive_timeout_s)),
            server_header=False,
        )
        sockets = [listener.sock for listener in listeners]
        if workers == 1:
            app = create_app(runtime, migrate=False, serving=True)
            config = uvicorn.Config(app, http=protocol_for(settings), **options)
            uvicorn.Server(config).run(sockets=sockets)
            return
        runtime.close()  # each worker opens its own database handle
        config = uvicorn.Config(
            "sessionkeeper.assembly:app_from_settings",
            factory=True,
            workers=workers,
            http="sessionkeeper.cli.server:EnvironmentProtocol",
            **options,
        )
        Multiprocess(config, sockets=sockets).run()
    finally:
        runtime.close()


def _port(port: int) -> int:
    """``--port`` as SESSIONKEEPER_PORT takes it. The system would not refuse a larger number
    but take it modulo 65536, and serve on a port nobody asked for."""
    if not 0 <= port <= MAX_PORT:
        raise InvalidInput(f"--port: must be 0 to {MAX_PORT} (got {port})", field="--port")
    return port


def _print_first_start(key: str, listener: Listener) -> None:
    print("Created tenant 'default' and its admin API key (shown only now):", flush=True)
    print(key, flush=True)
    print("Start a session:", flush=True)
    print(
        f"curl -s -X POST {listener.url}/v1/sessions "
        f"-H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
        """-d '{"user_id": "alice", "kind": "game", "label": "chess"}'""",
        flush=True,
    )


@app.command()
def migrate(
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Apply nothing; exit 1 and list the pending migrations if any."
        ),
    ] = False,
) -> None:
    """Apply database migrations.

    The server applies them on start too; --check only reports.
    """
    database = Runtime.open(Settings()).db
    try:
        if check:
            pending = database.pending_migrations()
            if pending:
                print(f"pending migrations: {', '.join(pending)}")
                raise typer.Exit(1)
            print("database is up to date")
            return
        applied = database.migrate()
        print(f"applied {', '.join(applied)}" if applied else "database is up to date")
    finally:
        database.close()


@app.command()
def backup(
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="File to write the copy to (must not exist).")
    ],
) -> None:
    """Copy the SQLite database to PATH, online.

    A consistent copy while the server runs (SQLite's online backup). For PostgreSQL use
    pg_dump (see the production guide).
    """
    database = Runtime.open(Settings()).db
    try:
        pages = backup_sqlite(database.read_engine, path)
    finally:
        database.close()
    print(f"backed up {pages} pages to {path}")


@app.command()
def sweep() -> None:
    """Close every overdue session now, in every tenant."""
    services = admin.services()
    result = asyncio.run(services.sweeper.run())
    services.runtime.close()
    print(f"closed {result.closed} overdue sessions")


def main() -> None:
    try:
        app()
    except ValidationError as exc:
        for line in describe_errors(exc):
            print(f"error: {line}", file=sys.stderr)
        sys.exit(2)
    except (SessionkeeperError, CannotListen, BackupRefused) as exc:
        print(f"error: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        sys.exit(2)
