"""``sessionkeeper sessions list``: a tenant's sessions, for people or scripts."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from sessionkeeper.api.responses import SessionOut
from sessionkeeper.cli.admin import (
    AllOption,
    FormatOption,
    LimitOption,
    plain,
    row_limit,
    services,
)
from sessionkeeper.cli.output import Format, Record, emit, pages
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.listing import Cursor, SessionFilter
from sessionkeeper.domain.session import Session
from sessionkeeper.errors import InvalidInput

sessions_app = typer.Typer(
    help="Sessions of a tenant.", no_args_is_help=True, rich_markup_mode=None
)

COLUMNS = ["id", "user_id", "kind", "label", "status", "started_at", "ended_at", "duration_s"]


def _cell(record: Record, name: str) -> str:
    value = record[name]
    if name in ("started_at", "ended_at") and value is not None:
        return str(value)[:19] + "Z"  # to the second: the table is for reading
    if name == "duration_s" and value is not None:
        return ("~" if record["estimated"] else "") + f"{value:.1f}"
    return plain(record, name)


WHERE_HELP = (
    "A filter as the API takes it, NAME=VALUE (repeatable): e.g. subject.teacher_id=t1, "
    "ended_after=2026-11-01T00:00:00Z, active_during=<from>/<to>, min_duration_s=60."
)


def _filter(where: list[str], **options: object) -> SessionFilter:
    """The listing filter of the named options and ``--where`` pairs, by the API's parser."""
    pairs = [(name, _text(value)) for name, value in options.items() if value is not None]
    for item in where:
        name, equals, value = item.partition("=")
        if not equals:
            raise InvalidInput(f"--where: {item!r} is not NAME=VALUE", field="--where")
        pairs.append((name, value))
    return SessionFilter.parse(pairs, assume_utc=True)


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


@sessions_app.command("list")
def sessions_list(
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = "default",
    status: Annotated[Status | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option()] = None,
    user_id: Annotated[str | None, typer.Option()] = None,
    label: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option()] = None,
    started_after: Annotated[
        datetime | None, typer.Option(help="ISO 8601, UTC if no offset.")
    ] = None,
    started_before: Annotated[
        datetime | None, typer.Option(help="ISO 8601, UTC if no offset.")
    ] = None,
    where: Annotated[list[str] | None, typer.Option(help=WHERE_HELP)] = None,
    output_format: FormatOption = Format.TABLE,
    limit: LimitOption = 50,
    every: AllOption = False,
) -> None:
    """List sessions, newest first. In json and csv every field is printed, as the HTTP API
    sends it; --all follows the pages to the end and prints as they come."""
    kernel = services()
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
    principal = kernel.tenants.operator(tenant)

    def fetch(after: Cursor | None, n: int) -> tuple[list[Record], Cursor | None]:
        page, cursor, values = asyncio.run(
            kernel.sessions.list_with_fields(principal, filters, limit=n, after=after)
        )
        return [_record(session, values[session.id]) for session in page], cursor

    # The API's fields, the features' (an ``outcome``) included, in the API's order.
    fields = [*SessionOut.model_fields, *kernel.sessions.fields.names]
    records = pages(fetch, row_limit(limit, every))
    emit(records, output_format, fields=fields, columns=COLUMNS, cell=_cell)


def _record(session: Session, values: dict[str, Any]) -> Record:
    """The session as the HTTP API sends it."""
    return SessionOut.of(session, **values).model_dump(mode="json")


@sessions_app.command("export")
def sessions_export(
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = "default",
    where: Annotated[list[str] | None, typer.Option(help=WHERE_HELP)] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="CSV file to write, replacing one there (default: stdout)."),
    ] = None,
) -> None:
    """Write every matching session as CSV, oldest first (as GET /v1/sessions/export.csv)."""
    kernel = services()
    principal = kernel.tenants.operator(tenant)

    async def write() -> None:
        chunks = await kernel.reports.export_csv(principal, _filter(where or []))
        # Opened once the export is known to be valid, so a refused one leaves no file.
        with _output(out) as stream:
            async for chunk in chunks:
                stream.write(chunk)

    asyncio.run(write())


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """stdout (no path, or ``-``), else the file at ``path``, replaced as ``>`` would: a
    scheduled export writes the same file every day."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    try:  # opening, writing (a full disk) and closing alike
        with path.open("w", encoding="utf-8") as stream:
            yield stream
    except OSError as exc:
        raise InvalidInput(f"--out: cannot write {path}: {exc.strerror}", field="--out") from exc
