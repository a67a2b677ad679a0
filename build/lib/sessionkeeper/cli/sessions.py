"""``sessionkeeper sessions list``: a tenant's sessions, for people or scripts."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

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
    output_format: FormatOption = Format.TABLE,
    limit: LimitOption = 50,
    every: AllOption = False,
) -> None:
    """List sessions, newest first. In json and csv every field is printed, as the HTTP API
    sends it; --all follows the pages to the end and prints as they come."""
    kernel = services()
    where = SessionFilter.of(
        status=status,
        kind=kind,
        user_id=user_id,
        label=label,
        source=source,
        started_after=started_after,
        started_before=started_before,
    )
    principal = kernel.tenants.operator(tenant)

    def fetch(after: Cursor | None, n: int) -> tuple[list[Session], Cursor | None]:
        return asyncio.run(kernel.sessions.list(principal, where, limit=n, after=after))

    records = (
        SessionOut.of(s).model_dump(mode="json") for s in pages(fetch, row_limit(limit, every))
    )
    fields = list(SessionOut.model_fields)
    emit(records, output_format, fields=fields, columns=COLUMNS, cell=_cell)
