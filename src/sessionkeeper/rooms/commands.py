"""``sessionkeeper cleanup``: run the rooms' cleanup once, now."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

cleanup_app = typer.Typer(
    help="Close every inactive room now (and purge old ones when a retention is set).",
    invoke_without_command=True,
)
out = Console()


@cleanup_app.callback()
def cleanup() -> None:
    """Close every room inactive for its room timeout, on the database of
    SESSIONKEEPER_DATABASE_URL; purge closed rooms older than
    SESSIONKEEPER_ROOM_RETENTION_DAYS when it is set."""
    # Imported here: the assembly imports this package to list it.
    from sessionkeeper.assembly import build_services
    from sessionkeeper.config import Settings
    from sessionkeeper.rooms.service import Rooms
    from sessionkeeper.services.runtime import Runtime

    runtime = Runtime.open(Settings())
    try:
        runtime.db.migrate()
        rooms = build_services(runtime).of(Rooms)
        result = asyncio.run(rooms.cleaner.run())
    finally:
        runtime.close()
    closed, purged = sum(result.closed.values()), sum(result.purged.values())
    out.print(f"closed {closed} inactive rooms, purged {purged}")
